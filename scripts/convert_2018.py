"""Convert the published 2018 pickles ONCE into the package's table format.

    python scripts/convert_2018.py /path/to/StanfordVL-taskonomy/results

SOURCE is the ``results/`` folder of https://github.com/StanfordVL/taskonomy (MIT):
``affinities/all_affinities{,_16k,_1k}.pkl`` and ``winrates/wins_vs_{task,pixels}{,_16k,_1k}.pkl``.
The pickles are read with the project's allow-listing unpickler and written as
``src/taskonomy/affinity/published_2018/<name>/{affinities,wins_vs_pixels,wins_vs_self}.csv``;
then every CSV is read back and compared, key by key, with the pickle it came from
(values equal exactly: ``repr`` round-trips a float). Not needed at run or test time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from taskonomy.affinity.published import PACKAGED, PACKAGED_FILES, PACKAGED_ROOT, published_entries
from taskonomy.affinity.table import Transfer, read_published, read_table

SOURCES = {"affinity": "affinities/all_affinities{}.pkl",
           "wins_vs_pixels": "winrates/wins_vs_pixels{}.pkl",
           "wins_vs_self": "winrates/wins_vs_task{}.pkl"}  # fmt: skip


def main(source: Path) -> None:
    for name, aff_file in PACKAGED.items():
        suffix = aff_file[len("all_affinities") : -len(".pkl")]
        out = PACKAGED_ROOT / name
        out.mkdir(parents=True, exist_ok=True)
        for kind, pattern in SOURCES.items():
            pkl = source / pattern.format(suffix)
            csv = out / PACKAGED_FILES[kind]
            read_published(pkl, kind).write_csv(csv)  # type: ignore[arg-type]
            # Round trip: every pickle entry has exactly its value in the CSV, nothing more.
            back = read_table(csv, kind)  # type: ignore[arg-type]
            raw = published_entries(pkl)
            assert len(back) == len(raw), (csv, len(back), len(raw))
            for srcs, target, value in raw.values():
                got = back[Transfer.of(srcs, target)]
                assert got == value, (csv, srcs, target, got, value)
            print(f"{pkl.relative_to(source)} -> {csv.relative_to(PACKAGED_ROOT)}: {len(back)} ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/convert_2018.py SOURCE_RESULTS_FOLDER")
    main(Path(sys.argv[1]))
