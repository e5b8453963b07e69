"""Encoders, decoders, task models and the transfer readout."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from taskonomy.errors import TaskonomyError
from taskonomy.nn.decoders import DECODERS, build_decoder
from taskonomy.nn.encoders import (
    ENCODERS,
    MultiViewEncoder,
    ResNet50,
    build_encoder,
    count_macs,
    representation_shape,
    source_encoder,
)
from taskonomy.nn.heads import TaskHead, TaskModel, random_batch
from taskonomy.nn.readout import TransferReadout, build_transfer, readout_width
from taskonomy.tasks import get_task, list_tasks

torch.set_num_threads(1)

SIZES = {
    "n_object_classes": 5,
    "n_scene_classes": 4,
    "n_semantic_classes": 6,
    "n_jigsaw_permutations": 7,
}
S = 32
LABELLED = [t for t in list_tasks() if get_task(t).label is not None]


def _model(task: str, seed: int = 0) -> TaskModel:
    torch.manual_seed(seed)
    return TaskModel(task, image_size=S, sizes=SIZES, encoder_width=8, decoder_width=16)


def _batch(task: str, b: int = 4, seed: int = 1) -> dict[str, torch.Tensor]:
    return random_batch(task, b, S, SIZES, torch.Generator().manual_seed(seed))


def test_importing_tasks_does_not_import_torch() -> None:
    code = "import sys, taskonomy.tasks; sys.exit(1 if 'torch' in sys.modules else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "taskonomy.tasks imported torch"


@pytest.mark.parametrize("name", ["small_resnet", "pixels", "resnet50"])
def test_encoder_maps_64_to_4x4x8(name: str) -> None:
    torch.manual_seed(0)
    enc = build_encoder(name, image_size=64).eval()
    with torch.no_grad():
        rep = enc(torch.rand(1, 3, 64, 64))
    assert rep.shape == (1, 8, 4, 4) == (1, *representation_shape(64))


def test_resnet50_at_256_gives_16x16x8_bottleneck() -> None:
    with torch.device("meta"):
        net = ResNet50(bottleneck_channels=8).eval()
        rep = net(torch.empty(1, 3, 256, 256))
    assert rep.shape == (1, 8, 16, 16)
    n_blocks = [m for m in net.stages if type(m).__name__ == "Bottleneck"]
    assert len(n_blocks) == 3 + 4 + 6 + 3
    assert 23e6 < sum(p.numel() for p in net.parameters()) < 24.5e6


def test_count_macs_single_conv_oracle() -> None:
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    # output 5 × 4 × 4, each a 3·3·3 dot product
    assert count_macs(conv, (1, 3, 8, 8)) == 5 * 4 * 4 * 27
    # transposed 2×2 stride 2: each of the 4·4 input pixels' 3 channels feeds 5·2·2 outputs
    up = nn.ConvTranspose2d(3, 5, 2, stride=2)
    assert count_macs(up, (1, 3, 4, 4)) == 4 * 4 * 3 * 5 * 4 == 5 * 8 * 8 * 3


def test_bad_encoder_name_and_image_size() -> None:
    with pytest.raises(TaskonomyError, match=r"unknown encoder: got 'vgg'.*small_resnet"):
        build_encoder("vgg")
    with pytest.raises(TaskonomyError, match="multiple of 16"):
        build_encoder("small_resnet", image_size=40)
    assert set(ENCODERS) == {"small_resnet", "resnet50", "pixels"}


def test_multiview_encoder_shares_weights_and_concatenates() -> None:
    torch.manual_seed(0)
    enc = build_encoder("small_resnet", image_size=32, width=8)
    mv = MultiViewEncoder(enc, views=3)
    x = torch.rand(2, 3, 3, 32, 32)  # (B, k, 3, H, W)
    rep = mv(x)
    assert rep.shape == (2, 24, 2, 2)
    for v in range(3):
        torch.testing.assert_close(rep[:, 8 * v : 8 * (v + 1)], enc(x[:, v]))
    assert sum(p.numel() for p in mv.parameters()) == sum(p.numel() for p in enc.parameters())
    with pytest.raises(TaskonomyError, match=r"\(B, 3, C, H, W\)"):
        mv(torch.rand(2, 3, 32, 32))


def test_random_source_is_frozen_and_pixels_is_its_own_net() -> None:
    torch.manual_seed(0)
    rnd = source_encoder("random", image_size=32, width=8)
    assert not any(p.requires_grad for p in rnd.parameters()) and not rnd.training
    pix = source_encoder("pixels", image_size=32, width=8)
    assert type(pix).__name__ == "PixelsNet" and all(p.requires_grad for p in pix.parameters())
    two = source_encoder("fixated_pose", views=2, image_size=32, width=8)
    assert two(torch.rand(1, 2, 3, 32, 32)).shape == (1, 16, 2, 2)


def test_dense_decoder_sizes_and_output_ranges() -> None:
    torch.manual_seed(0)
    rep = 5 * torch.randn(2, 8, 3, 3)
    sig = build_decoder("dense", 8, 1, (3, 3), (40, 40), "sigmoid", 16)
    out = sig(rep)
    assert out.shape == (2, 1, 40, 40)  # 3 → 40 is not a power of two: exact resize
    assert out.min() >= 0 and out.max() <= 1
    tanh = build_decoder("dense", 8, 3, (3, 3), (24, 24), "tanh", 16)(rep)
    assert tanh.min() >= -1 and tanh.max() <= 1 and tanh.min() < 0
    with pytest.raises(TaskonomyError, match="unknown decoder"):
        build_decoder("mlp", 8, 1, (2, 2), (8, 8))
    with pytest.raises(TaskonomyError, match="activation"):
        build_decoder("segment_dense", 8, 4, (2, 2), (8, 8), "sigmoid")


def test_every_declared_decoder_is_registered() -> None:
    for task in LABELLED:
        head = get_task(task).head
        assert head is not None and head.decoder in DECODERS, task


@pytest.mark.parametrize("task", LABELLED)
def test_task_model_forward_and_training_step(task: str) -> None:
    model = _model(task)
    batch = _batch(task)
    pred = model(batch)
    head = get_task(task).head
    assert head is not None
    n_out = head.resolve_channels({**SIZES, "H": S, "W": S})
    expected = {
        "classify": (4, n_out),
        "segment_dense": (4, n_out, S, S),
        "embedding": (4, n_out, S, S),
    }.get(head.decoder, tuple(batch[task].shape))  # dense, vector: the label's shape
    assert tuple(pred.shape) == expected
    first = model.loss(pred, batch)
    assert first.shape == (4,) and torch.isfinite(first).all() and (first >= 0).all()
    assert model.metric(pred, batch).shape == (4,)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        model.loss(model(batch), batch).mean().backward()
        opt.step()
    after = model.loss(model(batch), batch)
    assert after.mean() < first.mean()


@pytest.mark.parametrize("task", ["normal", "egomotion", "class_scene"])
def test_task_model_is_batch_independent(task: str) -> None:
    model = _model(task).eval()
    batch = _batch(task, b=3)
    with torch.no_grad():
        full = model(batch)
        for i in range(3):
            one = model({k: v[i : i + 1] for k, v in batch.items()})
            torch.testing.assert_close(one[0], full[i], atol=1e-5, rtol=1e-4)


def test_same_seed_same_weights_and_outputs() -> None:
    a, b, c = _model("depth_zbuffer", 7), _model("depth_zbuffer", 7), _model("depth_zbuffer", 8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    batch = _batch("depth_zbuffer")
    assert torch.equal(a(batch), b(batch))
    assert torch.equal(_batch("depth_zbuffer")["rgb"], batch["rgb"])


def test_task_model_reads_the_task_input_key() -> None:
    model = _model("denoising")
    batch = _batch("denoising")
    assert "rgb_noised" in batch
    with pytest.raises(TaskonomyError, match="rgb_noised"):
        model({"rgb": batch["rgb_noised"], "denoising": batch["denoising"]})
    with pytest.raises(TaskonomyError, match="random"):
        TaskModel("random", image_size=S)
    with pytest.raises(TaskonomyError, match="n_scene_classes"):
        TaskModel("class_scene", image_size=S)  # class count not given


@pytest.mark.parametrize("order", [1, 2, 3])
def test_readout_widths_grow_with_order(order: int) -> None:
    ro = TransferReadout(in_channels=8 * order, order=order, out_channels=8)
    convs = [m for m in ro.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (3, 3)]
    assert convs[0].out_channels == readout_width(order) == 16 * order
    assert ro(torch.rand(2, 8 * order, 4, 4)).shape == (2, 8, 4, 4)


def test_transfer_readout_trains_a_fresh_target_decoder() -> None:
    torch.manual_seed(0)
    tr = build_transfer("reshading", order=2, image_size=S, sizes=SIZES, decoder_width=16)
    assert isinstance(tr.head, TaskHead)
    batch = _batch("reshading")
    reps = torch.randn(4, 16, 2, 2)  # two cached source representations, concatenated
    pred = tr(reps)
    assert pred.shape == (4, 1, S, S)
    first = tr.loss(pred, batch)
    opt = torch.optim.Adam(tr.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        tr.loss(tr(reps), batch).mean().backward()
        opt.step()
    assert tr.loss(tr(reps), batch).mean() < first.mean()
    with pytest.raises(TaskonomyError, match="order"):
        TransferReadout(8, 0, 8)
    with pytest.raises(TaskonomyError, match="TaskHead"):
        TransferReadout(8, 1, 8).loss(pred, batch)


@pytest.mark.parametrize("task", LABELLED)
def test_a_fresh_head_starts_at_the_guess(task: str) -> None:
    # Oracle: after start_from_guess(g) every input predicts g (embeddings are left alone).
    model = _model(task)
    batch = _batch(task, b=3)
    pred = model(batch)
    kind = model.head.kind
    g = 0.1 + 0.8 * torch.rand(pred.shape[1:], generator=torch.Generator().manual_seed(4))
    head = get_task(task).head
    assert head is not None
    if head.activation == "tanh":
        g = 2 * g - 1
    model.head.start_from_guess(g)
    after = model(batch)
    if kind == "embedding":
        assert torch.equal(after, pred)
        return
    want = g.expand_as(after)
    torch.testing.assert_close(after, want, atol=1e-4, rtol=1e-4)
    # and it still learns: a few steps move the prediction away from the constant
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model.loss(model(batch), batch).mean().backward()
        opt.step()
    assert not torch.allclose(model(batch), want, atol=1e-4)


@pytest.mark.parametrize("width", [12, 40, 48])
def test_widths_that_are_not_powers_of_two_build(width: int) -> None:
    model = TaskModel("normal", image_size=S, encoder_width=width, decoder_width=width)
    assert model(_batch("normal"))[0].shape == (3, S, S)


@pytest.mark.parametrize("name", ["small_resnet", "pixels"])
def test_output_stride_8_doubles_the_grid(name: str) -> None:
    torch.manual_seed(0)
    enc = build_encoder(name, image_size=32, width=8, output_stride=8).eval()
    with torch.no_grad():
        rep = enc(torch.rand(1, 3, 32, 32))
    assert rep.shape == (1, 8, 4, 4) == (1, *representation_shape(32, output_stride=8))
    # the same layers as stride 16 (one stride-2 layer keeps stride 1): same parameter count
    torch.manual_seed(0)
    s16 = build_encoder(name, image_size=32, width=8)
    assert sum(p.numel() for p in enc.parameters()) == sum(p.numel() for p in s16.parameters())


def test_output_stride_8_task_model_and_transfer_shapes() -> None:
    torch.manual_seed(0)
    m = TaskModel("normal", image_size=S, sizes=SIZES, encoder_width=8, decoder_width=16,
                  output_stride=8)  # fmt: skip
    b = _batch("normal")
    rep = m.encode(b)
    assert rep.shape == (4, 8, 4, 4) and m(b).shape == (4, 3, S, S)
    ro = build_transfer("normal", 1, S, SIZES, 8, decoder_width=16, output_stride=8)
    assert ro(rep).shape == (4, 3, S, S)


def test_bad_output_stride() -> None:
    with pytest.raises(TaskonomyError, match=r"output stride: got 4.*8 or 16"):
        build_encoder("small_resnet", image_size=32, output_stride=4)
    with pytest.raises(TaskonomyError, match="resnet50 output stride: got 8"):
        build_encoder("resnet50", image_size=256, output_stride=8)
    with pytest.raises(TaskonomyError, match="multiple of 8"):
        representation_shape(20, output_stride=8)
