"""Contact sheet: one view of a bank with every task's label (like the paper's Figure 3).

One titled panel per task, grouped by family (2D, 3D, geometric, semantic), each label drawn
the way a vision researcher reads it: depth with a colormap and a scale in metres, normals as
RGB, segmentations with a categorical palette, classes as bars or text, vanishing points and
poses as small diagrams, multi-view tasks with all their views. Pixels without valid
geometry (``mask_valid`` false) are drawn dark gray in the masked tasks.

The figure is built on :class:`matplotlib.figure.Figure` (Agg, no pyplot state) and written
atomically.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from taskonomy.data.bank import MASK_KEY, VIEWS_SUFFIX, Bank, open_bank
from taskonomy.errors import input_error
from taskonomy.io import atomic_write_bytes
from taskonomy.tasks import families, get_task, in_dictionary_order, list_tasks

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

NCOLS = 6
PANEL_IN = 2.1  # inches per grid cell
INVALID_RGB = np.array([0.18, 0.18, 0.18])
# families and task order come from the task registry (a new task file adds its panel)
FAMILY_ORDER = tuple(f for f in families() if f != "baseline")
TASK_ORDER = tuple(in_dictionary_order(list_tasks()))
WIDE = {"denoising": 2, "colorization": 2, "inpainting": 2, "principal_curvature": 2}
FAMILY_COLOR = families()


@dataclass
class _Panel:
    name: str
    family: str
    width: int  # grid cells


def contact_sheet(
    bank: Bank | str | os.PathLike[str],
    view: int = 0,
    out: str | os.PathLike[str] | None = None,
    dpi: int = 110,
) -> Path:
    """Draw view ``view`` of ``bank`` with every label; write a PNG (default: in the bank)."""
    bank = open_bank(bank)
    fig = contact_sheet_figure(bank, view)
    path = Path(out) if out is not None else bank.path / "contact_sheet.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    atomic_write_bytes(path, buf.getvalue())
    return path


def contact_sheet_figure(bank: Bank, view: int = 0) -> Figure:
    """The contact sheet as a matplotlib Figure."""
    from matplotlib.figure import Figure

    if not isinstance(view, int) or not 0 <= view < bank.n_views:
        raise input_error("--view", view, f"a view index in [0, {bank.n_views})")
    scene = int(bank.scene_of_view(view))
    meta = bank.scene_meta(scene)
    panels = [_Panel("rgb", "input", 1)]
    for t in TASK_ORDER:  # grouped by family
        spec = get_task(t)
        if t in bank and spec.family in FAMILY_ORDER:
            width = WIDE.get(t, 1) if spec.views == 1 else spec.views
            panels.append(_Panel(t, spec.family, width))
    rows = _pack(panels)
    head = 0.75  # inches for the title lines
    fig = Figure(figsize=(NCOLS * PANEL_IN, len(rows) * PANEL_IN * 1.12 + head))
    height = fig.get_figheight()
    gs = fig.add_gridspec(
        len(rows), NCOLS, left=0.01, right=0.97, top=1 - head / height, bottom=0.5 / height,
        wspace=0.12, hspace=0.42,
    )  # fmt: skip
    ctx = _Context(bank, view, scene, meta)
    for r, row in enumerate(rows):
        c = 0
        for p in row:
            ax = fig.add_subplot(gs[r, c : c + p.width])
            c += p.width
            _draw(ax, p, ctx)
            color = FAMILY_COLOR.get(p.family, "black")
            ax.set_title(p.name, fontsize=9, color=color, fontweight="bold", pad=3)
    cls = meta.get("scene_class", "")
    a, b = bank.scenes[scene]["views"]
    fig.text(
        0.5, 1 - 0.1 / height,
        f"{bank.path.name}: {bank.scenes[scene]['name']}" + (f" ({cls})" if cls else "")
        + f", view {view - a} of {b - a} (global view {view}), {bank.size[0]}×{bank.size[1]} px",
        fontsize=11, ha="center", va="top",
    )  # fmt: skip
    for i, fam in enumerate(("input", *FAMILY_ORDER)):
        fig.text(
            0.28 + 0.1 * i, 1 - 0.38 / height, f"■ {fam}", fontsize=9, va="top",
            color=FAMILY_COLOR.get(fam, "black"), fontweight="bold",
        )  # fmt: skip
    return fig


def _pack(panels: Sequence[_Panel]) -> list[list[_Panel]]:
    """Rows of at most NCOLS cells; a family starts a new row when it would not fit snugly."""
    rows: list[list[_Panel]] = [[]]
    used = 0
    for p in panels:
        if used + p.width > NCOLS:
            rows.append([])
            used = 0
        rows[-1].append(p)
        used += p.width
    return [r for r in rows if r]


@dataclass
class _Context:
    bank: Bank
    view: int
    scene: int
    meta: dict[str, Any]

    def get(self, key: str, index: Any = None) -> np.ndarray:
        return self.bank.get(key, self.view if index is None else index)

    @property
    def mask(self) -> np.ndarray | None:
        return self.get(MASK_KEY)[0] if MASK_KEY in self.bank else None  # (H, W)


# ----------------------------------------------------------------------------- drawing


def _draw(ax: Axes, p: _Panel, ctx: _Context) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    name = p.name
    if name == "rgb":
        _image(ax, _hwc(ctx.get("rgb")))
        return
    spec = get_task(name)
    if spec.views > 1:
        _multiview(ax, name, ctx)
        return
    x = ctx.get(name)
    mask = ctx.mask if spec.label is not None and spec.label.masked else None
    if spec.rgb_label:  # the label is the clean image; show what the network sees beside it
        if spec.input != "rgb" and spec.input in ctx.bank:
            _pair(ax, _hwc(ctx.get(spec.input)), _hwc(x), "input", "label")
        else:
            _image(ax, _hwc(x))
    elif name == "jigsaw":
        _jigsaw(ax, ctx, int(x))
    elif name in ("depth_zbuffer", "depth_euclidean"):
        _depth(ax, x[0], mask, float(ctx.meta.get("z_max", 0.0)))
    elif name == "normal":
        # coloured like the released data: R = x right, G = y down, B = towards the camera
        shown = x * np.array([1.0, 1.0, -1.0], dtype=np.float32)[:, None, None]
        _image(ax, _masked_rgb(_hwc((shown + 1) / 2), mask))
        ax.set_xlabel("RGB = (x, y, −z) camera frame", fontsize=7)
    elif name == "principal_curvature":
        _curvature(ax, x, mask)
    elif name in ("edge_texture", "keypoints2d", "edge_occlusion", "keypoints3d", "reshading"):
        cmap = "gray" if name == "reshading" else "magma"
        hi = 1.0 if name == "reshading" else max(float(np.quantile(x[0], 0.995)), 1e-6)
        _scalar(ax, x[0], mask, cmap, 0.0, hi)
    elif name in ("segment_unsup2d", "segment_unsup25d"):
        _image(ax, _masked_rgb(_palette(x), mask))
        ax.set_xlabel(f"{len(np.unique(x))} segments", fontsize=7)
    elif name == "segment_semantic":
        _semantic(ax, x, ctx)
    elif name == "class_object":
        _bars(ax, x, ctx.meta.get("object_classes"))
    elif name == "class_scene":
        _class_scene(ax, int(x), ctx)
    elif name == "room_layout":
        _room_layout(ax, x, ctx)
    elif name == "vanishing_point":
        _vanishing(ax, x, ctx)
    else:  # an unknown dense label: show it as a scalar image
        _scalar(ax, np.asarray(x, dtype=float).reshape(-1, *x.shape[-2:])[0], mask, "viridis")


def _hwc(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.float64).transpose(1, 2, 0), 0, 1)  # (H, W, 3)


def _image(ax: Axes, img: np.ndarray) -> None:
    ax.imshow(img, interpolation="nearest")


def _masked_rgb(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return img
    out = img.copy()
    out[~mask] = INVALID_RGB
    return out


def _pair(ax: Axes, a: np.ndarray, b: np.ndarray, la: str, lb: str) -> None:
    gap = np.ones((a.shape[0], max(1, a.shape[1] // 16), 3))
    ax.imshow(np.concatenate([a, gap, b], axis=1), interpolation="nearest")
    ax.set_xlabel(f"{la}  →  {lb}", fontsize=7)


def _scalar(
    ax: Axes,
    x: np.ndarray,
    mask: np.ndarray | None,
    cmap: str,
    lo: float | None = None,
    hi: float | None = None,
) -> None:
    from matplotlib import colormaps

    vals = x[mask] if mask is not None and mask.any() else x.ravel()
    lo = float(np.quantile(vals, 0.01)) if lo is None else lo
    hi = float(np.quantile(vals, 0.99)) if hi is None else hi
    unit = np.clip((x - lo) / max(hi - lo, 1e-9), 0, 1)
    ax.imshow(_masked_rgb(colormaps[cmap](unit)[..., :3], mask), interpolation="nearest")


def _depth(ax: Axes, label: np.ndarray, mask: np.ndarray | None, z_max: float) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    # label = log(1+z)/log(1+z_max): show metres, near = bright, like the paper's figures
    z = np.expm1(label * math.log1p(z_max)) if z_max > 0 else label
    vals = z[mask] if mask is not None and mask.any() else z.ravel()
    lo, hi = float(np.quantile(vals, 0.01)), float(np.quantile(vals, 0.99))
    cmap = colormaps["magma_r"]
    unit = np.clip((z - lo) / max(hi - lo, 1e-9), 0, 1)
    ax.imshow(_masked_rgb(cmap(unit)[..., :3], mask), interpolation="nearest")
    sm = ScalarMappable(norm=Normalize(lo, hi), cmap=cmap)
    cax = ax.inset_axes((0.0, -0.09, 1.0, 0.05))  # under the image, without shrinking it
    cb = ax.figure.colorbar(sm, cax=cax, orientation="horizontal")
    cb.ax.tick_params(labelsize=6, pad=1, length=2)
    cb.locator = MaxNLocator(5)
    cb.update_ticks()
    cb.set_label("metres (near = bright)" if z_max > 0 else "label", fontsize=6, labelpad=1)


def _curvature(ax: Axes, k: np.ndarray, mask: np.ndarray | None) -> None:
    from matplotlib import colormaps

    vals = np.abs(k[:, mask]) if mask is not None and mask.any() else np.abs(k).ravel()
    curved = vals[vals > 1e-6]
    # planes dominate indoor scenes: scale by the curved pixels, not by the many zeros
    lim = float(np.quantile(curved, 0.9)) if curved.size else 1.0
    cmap = colormaps["coolwarm"]
    parts = [_masked_rgb(cmap(np.clip(c / lim / 2 + 0.5, 0, 1))[..., :3], mask) for c in k]
    gap = np.ones((k.shape[1], max(1, k.shape[2] // 16), 3))
    ax.imshow(np.concatenate([parts[0], gap, parts[1]], axis=1), interpolation="nearest")
    if curved.size:
        ax.set_xlabel(f"k1 | k2   (±{lim:.2g} 1/m; red convex, blue concave)", fontsize=7)
    else:
        ax.set_xlabel("k1 | k2   (all planar: k = 0)", fontsize=7)


_BASE_COLORS = np.array(
    [
        [0.12, 0.47, 0.71],
        [1.00, 0.50, 0.05],
        [0.17, 0.63, 0.17],
        [0.84, 0.15, 0.16],
        [0.58, 0.40, 0.74],
        [0.55, 0.34, 0.29],
        [0.89, 0.47, 0.76],
        [0.50, 0.50, 0.50],
        [0.74, 0.74, 0.13],
        [0.09, 0.75, 0.81],
        [0.68, 0.78, 0.91],
        [1.00, 0.73, 0.47],
        [0.60, 0.87, 0.54],
        [1.00, 0.60, 0.59],
        [0.77, 0.69, 0.84],
        [0.77, 0.61, 0.58],
    ]
)


def _colors(n: int) -> np.ndarray:
    """n distinct categorical colors: tab20-like first, then golden-ratio hues."""
    from matplotlib.colors import hsv_to_rgb

    if n <= len(_BASE_COLORS):
        return _BASE_COLORS[:n]
    extra = np.arange(n - len(_BASE_COLORS))
    hsv = np.stack(
        [(extra * 0.618034) % 1.0, 0.55 + 0.35 * (extra % 3) / 2, 0.65 + 0.3 * (extra % 2)], 1
    )
    return np.concatenate([_BASE_COLORS, hsv_to_rgb(hsv)])


def _palette(ids: np.ndarray) -> np.ndarray:
    """Segment ids → colors; ids are ranked by area so the big segments get distinct colors."""
    uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(-counts, kind="stable")] = np.arange(len(uniq))
    return _colors(len(uniq))[rank[inv.reshape(ids.shape)]]


def _semantic(ax: Axes, ids: np.ndarray, ctx: _Context) -> None:
    from matplotlib.patches import Patch

    names = ctx.meta.get("semantic_classes") or []
    n = max(len(names), int(ids.max()) + 1)
    colors = _colors(n)  # fixed per class, so colors mean the same thing in every view
    ax.imshow(colors[np.clip(ids, 0, n - 1)], interpolation="nearest")
    uniq, counts = np.unique(ids, return_counts=True)
    top = uniq[np.argsort(-counts)][:6]
    handles = [Patch(color=colors[i], label=names[i] if i < len(names) else str(i)) for i in top]
    ax.legend(
        handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
        frameon=False, handlelength=0.8, handletextpad=0.3, borderaxespad=0.1, columnspacing=0.6,
    )  # fmt: skip


def _bars(ax: Axes, p: np.ndarray, names: Sequence[str] | None, k: int = 5) -> None:
    top = np.argsort(-p)[:k]
    labels = [names[i] if names and i < len(names) else f"class {i}" for i in top]
    y = np.arange(len(top))[::-1]
    ax.barh(y, p[top], color=FAMILY_COLOR["semantic"], alpha=0.35, height=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, len(top) - 0.4)
    ax.set_xticks([0, 0.5, 1])
    ax.tick_params(axis="x", labelsize=6, pad=1, length=2)
    ax.set_box_aspect(1)
    for yy, v, name in zip(y, p[top], labels, strict=True):
        # names inside the plot so the neighbouring panel never clips them
        ax.text(0.03, yy, name, va="center", fontsize=7)
        ax.text(0.97, yy, f"{v:.2f}", va="center", ha="right", fontsize=6.5)
    ax.set_xlabel(f"top {len(top)} of {len(p)} object classes", fontsize=7)


def _text_panel(ax: Axes, lines: Sequence[str], big: str | None = None) -> None:
    ax.set_box_aspect(1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    y = 0.92
    if big is not None:
        ax.text(0.5, 0.62, big, ha="center", va="center", fontsize=13, fontweight="bold")
        y = 0.35
    ax.text(0.05, y, "\n".join(lines), ha="left", va="top", fontsize=7, family="monospace")


def _class_scene(ax: Axes, cls: int, ctx: _Context) -> None:
    names = ctx.meta.get("scene_classes") or []
    name = names[cls] if cls < len(names) else f"class {cls}"
    _text_panel(ax, [f"class {cls} of {len(names) or '?'}", "(room type)"], big=name)


def _jigsaw(ax: Axes, ctx: _Context, k: int) -> None:
    from matplotlib.patheffects import withStroke

    img = _hwc(ctx.get("rgb_jigsaw")) if "rgb_jigsaw" in ctx.bank else _hwc(ctx.get("rgb"))
    ax.imshow(img, interpolation="nearest")
    h, w = img.shape[:2]
    perms = ctx.meta.get("jigsaw_permutations") or []
    perm = perms[k] if k < len(perms) else None
    for i in (1, 2):
        ax.axhline(i * h / 3 - 0.5, color="white", lw=1)
        ax.axvline(i * w / 3 - 0.5, color="white", lw=1)
    if perm is not None:
        for pos, tile in enumerate(perm):
            r, c = divmod(pos, 3)
            ax.text(
                (c + 0.5) * w / 3,
                (r + 0.5) * h / 3,
                str(tile),
                color="yellow",
                fontsize=8,
                ha="center",
                va="center",
                fontweight="bold",
                path_effects=[withStroke(linewidth=2, foreground="black")],
            )
    ax.set_xlabel(f"permutation #{k} of {len(perms) or '?'} (tile shown at each cell)", fontsize=6)


def _intrinsics(meta: dict[str, Any], h: int, w: int) -> np.ndarray:
    """K in image-array coordinates (pixel centres at integers), from the scene metadata.

    The renderer's ``K`` puts pixel centres at +0.5 (OpenCV), so its principal point moves
    by half a pixel here; without intrinsics, a 60° field of view is assumed.
    """
    k = meta.get("K")
    if k is not None and np.asarray(k).shape == (3, 3):
        arr = np.array(k, dtype=np.float64)
        arr[:2, 2] -= 0.5
        return arr
    fov = math.radians(float(meta.get("fov_deg", 60.0)))
    f = w / 2 / math.tan(fov / 2)
    return np.array([[f, 0, w / 2 - 0.5], [0, f, h / 2 - 0.5], [0, 0, 1.0]])


def _vanishing(ax: Axes, x: np.ndarray, ctx: _Context) -> None:
    img = _hwc(ctx.get("rgb")) * 0.55 + 0.45
    ax.imshow(img, interpolation="nearest")
    h, w = img.shape[:2]
    K = _intrinsics(ctx.meta, h, w)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    axes = np.asarray(x, dtype=np.float64).reshape(3, 3)
    for d, color, name, ty in zip(
        axes, ("#d62728", "#2ca02c", "#1f77b4"), "xyz", (0.97, 0.87, 0.77), strict=True
    ):
        hp = K @ d  # the vanishing point of direction d, homogeneous
        finite = abs(hp[2]) > 1e-3 * float(np.linalg.norm(hp))
        vp = hp[:2] / hp[2] if finite else None
        towards = (vp - centre) if vp is not None else hp[:2]
        n = float(np.linalg.norm(towards))
        towards = towards / n if n > 1e-9 else np.array([1.0, 0.0])
        side = np.array([-towards[1], towards[0]])
        # a fan of scene lines parallel to this room axis: they meet at its vanishing point
        for off in np.linspace(-0.42, 0.42, 5) * max(h, w):
            q = centre + off * side
            if vp is not None:
                span = q - vp
                far = vp + span * (1 + 3 * max(h, w) / max(float(np.linalg.norm(span)), 1e-9))
                pts = np.stack([vp, far])
            else:
                pts = np.stack([q - 3 * max(h, w) * towards, q + 3 * max(h, w) * towards])
            ax.plot(pts[:, 0], pts[:, 1], color=color, lw=0.9, alpha=0.85)
        if vp is not None and -0.5 <= vp[0] <= w - 0.5 and -0.5 <= vp[1] <= h - 0.5:
            ax.plot([vp[0]], [vp[1]], "o", color=color, ms=5, mec="white", mew=0.8)
        where = (
            "in view" if vp is not None and abs(vp - centre).max() < max(h, w) / 2 else "outside"
        )
        ax.text(
            0.02, ty, f"{name} ({d[0]:+.2f},{d[1]:+.2f},{d[2]:+.2f}) {where}",
            transform=ax.transAxes, fontsize=5.5, color=color, family="monospace", va="top",
            bbox={"fc": "white", "alpha": 0.75, "lw": 0, "pad": 0.5},
        )  # fmt: skip
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xlabel("room axes (camera frame); lines meet at their vanishing points", fontsize=5.5)


def _room_layout(ax: Axes, x: np.ndarray, ctx: _Context) -> None:
    v = np.asarray(x, dtype=np.float64)
    img = _hwc(ctx.get("rgb")) * 0.6 + 0.4
    ax.imshow(img, interpolation="nearest")
    h, w = img.shape[:2]
    K = _intrinsics(ctx.meta, h, w)
    if K is not None:
        # the box: rotation (axis-angle) R, centre c, size s, all in the camera frame
        R = _axis_angle(v[:3])
        c, s = v[3:6], v[6:9]
        corners = np.array(
            [[i, j, k] for i in (-0.5, 0.5) for j in (-0.5, 0.5) for k in (-0.5, 0.5)]
        )
        pts = (R @ (corners * s).T).T + c  # (8, 3)
        edges = [(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]
        for a, b in edges:
            seg = _clip_segment(pts[a], pts[b])
            if seg is None:
                continue
            uv = (K @ np.stack(seg).T).T
            uv = uv[:, :2] / uv[:, 2:]
            ax.plot(uv[:, 0], uv[:, 1], color="#e6550d", lw=1.3)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xlabel(
        f"rot ({v[0]:+.2f},{v[1]:+.2f},{v[2]:+.2f})\nctr ({v[3]:+.1f},{v[4]:+.1f},{v[5]:+.1f}) m"
        f"  size ({v[6]:.1f},{v[7]:.1f},{v[8]:.1f}) m",
        fontsize=5.5,
    )


def _clip_segment(
    a: np.ndarray, b: np.ndarray, near: float = 0.05
) -> tuple[np.ndarray, np.ndarray] | None:
    """Clip a 3D segment to z ≥ near (in front of the camera)."""
    if a[2] < near and b[2] < near:
        return None
    if a[2] < near or b[2] < near:
        t = (near - a[2]) / (b[2] - a[2])
        p = a + t * (b - a)
        return (p, b) if a[2] < near else (a, p)
    return a, b


def _axis_angle(r: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(r))
    if theta < 1e-12:
        return np.eye(3)
    k = r / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * kx @ kx


def _pose_text(p: np.ndarray) -> str:
    angle = math.degrees(float(np.linalg.norm(p[:3])))
    return f"rot {angle:5.1f}°  t ({p[3]:+.2f},{p[4]:+.2f},{p[5]:+.2f}) m"


def _multiview(ax: Axes, task: str, ctx: _Context) -> None:
    bank = ctx.bank
    views = np.asarray(bank.raw(task + VIEWS_SUFFIX))  # (P, k) global view indices
    a, b = bank.scenes[ctx.scene]["tuples"].get(task, [0, 0])
    rows = [r for r in range(a, b) if ctx.view in views[r]] or list(range(a, b))
    if not rows:
        _text_panel(ax, [f"no {task} tuple", "in this scene"])
        return
    row = rows[0]
    tup = [int(v) for v in views[row]]
    imgs = [_hwc(bank.get("rgb", v)) for v in tup]
    h, w = imgs[0].shape[:2]
    gap = np.ones((h, max(1, w // 16), 3))
    strip = np.concatenate([x for im in imgs for x in (im, gap)][:-1], axis=1)
    ax.imshow(strip, interpolation="nearest")
    first = bank.scenes[ctx.scene]["views"][0]
    for i, v in enumerate(tup):
        x0 = i * (w + gap.shape[1])
        ax.text(
            x0 + 2,
            2,
            f"view {v - first}",
            color="white",
            fontsize=6,
            va="top",
            bbox={"fc": "black", "alpha": 0.5, "lw": 0, "pad": 0.5},
        )
    label = bank.get(task, row)
    if task == "point_matching":
        match = int(label) == 1
        for i in range(len(tup)):
            x0 = i * (w + gap.shape[1])
            ax.plot(
                [x0 + (w - 1) / 2],
                [(h - 1) / 2],
                marker="+",
                ms=12,
                mew=2,
                color="#2ca02c" if match else "#d62728",
            )
        ax.set_xlabel(
            (
                "match: centres see the same 3D point"
                if match
                else "no match: centres see different points"
            ),
            fontsize=7,
        )
    elif task == "egomotion":
        lab = np.asarray(label).reshape(3, 6)
        ax.set_xlabel(
            "\n".join(
                f"{n}: {_pose_text(p)}" for n, p in zip(("1→2", "2→3", "1→3"), lab, strict=True)
            ),
            fontsize=6,
            family="monospace",
        )
    else:
        ax.set_xlabel(f"1→2: {_pose_text(np.asarray(label))}", fontsize=6.5, family="monospace")
    ax.set_xlim(-0.5, strip.shape[1] - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


__all__ = ["contact_sheet", "contact_sheet_figure"]
