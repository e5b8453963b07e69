"""Fit one task network on a run's image bank and print its curves (a probe for studies).

    python scripts/fit_one_network.py RUN/jobs/data/<key>/bank fixated_pose --steps 1600
    python scripts/fit_one_network.py BANK fixated_pose --steps 300 --first 64 --no-val

Uses the quick/laptop presets' family (small_resnet, width 48, bottleneck 32, decoder 32,
output stride 8). ``--first N`` keeps the first N training samples (a memorization check);
``--no-val`` trains without early stopping and prints the training curve only.
"""

from __future__ import annotations

import argparse
import time

import torch

from taskonomy.data.bank import Bank
from taskonomy.train.constant import optimal_constant
from taskonomy.train.loop import fit
from taskonomy.train.network import (
    Architecture,
    FitParams,
    evaluate,
    fit_task_network,
    sizes_of,
    task_model,
)
from taskonomy.train.tensors import load_task_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bank")
    ap.add_argument("task")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--first", type=int, default=None)
    ap.add_argument("--no-val", action="store_true")
    args = ap.parse_args()
    bank = Bank(args.bank)
    arch = Architecture("small_resnet", 48, 32, 32, 8)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if args.no_val:
        torch.manual_seed(0)
        data = load_task_split(bank, args.task, "large")
        if args.first:
            data = {k: v[: args.first] for k, v in data.items()}
        model = task_model(args.task, bank, arch)
        model.head.start_from_guess(optimal_constant(args.task, data, sizes_of(bank)))
        log = fit(model, lambda b: model.loss(model(b), b), data, steps=args.steps,
                  batch_size=32, lr=args.lr, weight_decay=1e-4,
                  log_every=max(1, args.steps // 10))  # fmt: skip
        print("train", [round(x, 3) for x in log.losses])
    else:
        fitted = fit_task_network(
            args.task, bank, arch, FitParams(args.steps, 32, args.lr, 1e-4),
            split="large", init_seed=1, batch_seed=2,
        )  # fmt: skip
        log = fitted.log
        print("train", [round(x, 3) for x in log.losses])
        print("val", [round(x, 3) for x in log.val_losses], "kept step", log.best_step)
        # The sanity check's guess, scored like the network (as the train job does).
        guess = evaluate(fitted.model, fitted.test, guess=fitted.guess).float().mean()
        print("test", round(float(fitted.losses.mean()), 4), "guess", round(float(guess), 4),
              "n_train", fitted.n_train)  # fmt: skip
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
