"""Label computations shared by every view: geometric labels from exact geometry, 2D labels from
the rendered RGB, and the self-supervised inputs.

All functions take stacks of views with a leading view axis ``V`` and return float32 / int64
arrays in the layouts of ``taskonomy.tasks`` (channels first). Conventions:

- depth: ``log(1 + z) / log(1 + z_max)`` clipped to [0, 1] (z-buffer or euclidean distance).
- normals: unit, camera frame (x right, y down, z forward), facing the camera.
- reshading: ``max(0, n · l)`` with ``l`` the unit vector from the surface to the camera
  centre (a point light at the camera, no falloff, albedo removed).
- principal curvature: ``tanh(s · (k1, k2))``, ``k1 >= k2`` in 1/m, ``s = CURVATURE_SCALE``
  = 3 cm, at the image's sampling scale: the shape operator from finite differences of the
  points and normals between neighbouring pixels on one surface (:func:`surface_curvature`;
  no difference crosses an occlusion). Exact on spheres and cylinders (``tanh(s / r)``);
  a crease (a box's edge, a room corner) is its turning angle over the pixel footprint,
  positive where convex towards the camera. The analytic curvature of the primitives alone
  left 99% of a 32² bank's pixels and 36% of its views at 0, and its network gained 0.3%
  over the constant guess (7% at the pixel scale; docs/representation.md). Raw curvatures
  span 2-83 1/m on curved primitives and made the L2 loss ~6 from rare spikes; with
  s = 3 cm the label's mean square is ~0.008 at 32², in range of the other dense tasks.
- occlusion edges: neighbouring pixels whose 3D points are further apart than their surfaces'
  pixel footprints can explain (a depth jump, not a crease or a slanted plane), both pixels
  marked, Gaussian-blurred and scaled so a sharp edge peaks at 1.
- keypoints: Harris response (k = 0.05) of the gray image (2D) or of log-depth + normals (3D),
  clipped at 0, divided by the view's maximum, square-rooted (responses grow as gradient⁴).
- texture edges: Sobel gradient magnitude of the RGB (largest over channels), scaled so a
  0→1 step gives 1, clipped; no non-maximum suppression.
- unsupervised segmentation: Felzenszwalb's graph segmentation of the RGB (2D); connected
  smooth surface patches of the geometry — no occlusion jump, normals within 20°, similar
  curvature — with tiny patches merged into the adjacent patch of most similar normal (2.5D).
  Never from RGB.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation
from skimage.segmentation import felzenszwalb

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

HARRIS_K = 0.05
OCCLUSION_KAPPA = 1.5  # a jump must exceed 1.5× the two pixels' footprints to be an occlusion
MIN_COS = 0.1  # slant limit of the footprint estimate (84°)
CURVATURE_SCALE = 0.03  # metres: the curvature label is tanh(CURVATURE_SCALE * k)
OCCLUSION_MEET_TOL = 0.01  # tangent planes missing each other by > 1% of depth: a step


def log_depth(z: F64, z_max: float) -> F32:
    """Log-scaled depth in [0, 1]: ``log(1 + z) / log(1 + z_max)``."""
    return np.clip(np.log1p(z) / math.log1p(z_max), 0.0, 1.0).astype(np.float32)


def inverse_log_depth(d: NDArray[np.floating], z_max: float) -> F64:
    """Metric depth from :func:`log_depth` (exact inverse below ``z_max``)."""
    return np.expm1(np.asarray(d, dtype=np.float64) * math.log1p(z_max))


def reshading(normal: F64, ray: F64) -> F32:
    """Shading by a point light at the camera: ``max(0, -n · r̂)``; (V, 3, H, W) -> (V, 1, H, W)."""
    r = ray / np.linalg.norm(ray, axis=1, keepdims=True)
    return np.clip(-(normal * r).sum(1, keepdims=True), 0.0, 1.0).astype(np.float32)


def curvature_label(k: F64) -> F32:
    """Bounded principal-curvature label ``tanh(CURVATURE_SCALE · k)`` of curvatures in 1/m."""
    return np.tanh(CURVATURE_SCALE * k).astype(np.float32)


def _surface_derivative(x: F64, jump: B, axis: int) -> tuple[F64, B]:
    """Derivative of ``x`` (V, C, H, W) along image ``axis`` (-1 columns, -2 rows) taken only
    between neighbours on one surface (``jump`` (V, H, W-1) or (V, H-1, W) marks the others):
    central where both neighbours qualify, one-sided where one does; and the mask of pixels
    where either does."""
    n = x.shape[axis]
    lo = [slice(None)] * x.ndim
    hi = [slice(None)] * x.ndim
    lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
    step = x[tuple(hi)] - x[tuple(lo)]  # forward difference of pixel i, backward of i + 1
    ok = ~jump[:, None]
    pad = [(0, 0)] * x.ndim
    fwd_pad, bwd_pad = list(pad), list(pad)
    fwd_pad[axis], bwd_pad[axis] = (0, 1), (1, 0)
    fwd, bwd = np.pad(step * ok, fwd_pad), np.pad(step * ok, bwd_pad)
    has_f, has_b = np.pad(ok, fwd_pad), np.pad(ok, bwd_pad)
    count = has_f.astype(np.float64) + has_b
    d = (fwd + bwd) / np.maximum(count, 1.0)
    return d, (count > 0)[:, 0]


def surface_curvature(points: F64, normal: F64, jumps: tuple[B, B]) -> F64:
    """Principal curvatures (V, 2, H, W), ``k1 >= k2`` in 1/m, at the image's sampling scale.

    The shape operator from finite differences of the camera-frame ``points`` and unit
    ``normal`` (V, 3, H, W) between neighbouring pixels on one surface (``jumps``:
    :func:`occlusion_pairs`, so no difference crosses an occlusion): ``dN = S dX``, solved
    in the pixel basis with the symmetrized second form. On a smooth primitive it converges
    to the analytic curvatures; a crease (a box's edge, a room corner) is a curvature of its
    turning angle over the pixel footprint, positive where convex towards the camera.
    """
    (pu, okx), (pv, oky) = (_surface_derivative(points, jumps[0], -1),
                            _surface_derivative(points, jumps[1], -2))  # fmt: skip
    nu, _ = _surface_derivative(normal, jumps[0], -1)
    nv, _ = _surface_derivative(normal, jumps[1], -2)
    e, f, g = (pu * pu).sum(1), (pu * pv).sum(1), (pv * pv).sum(1)  # first form
    l_, n_ = (pu * nu).sum(1), (pv * nv).sum(1)
    m_ = 0.5 * ((pu * nv).sum(1) + (pv * nu).sum(1))  # second form, symmetrized
    det_i = e * g - f * f
    good = okx & oky & (det_i > 1e-12 * np.maximum(e * g, 1e-300))
    det_i = np.where(good, det_i, 1.0)
    mean = (e * n_ - 2 * f * m_ + g * l_) / (2 * det_i)  # H = (k1 + k2) / 2
    gauss = (l_ * n_ - m_ * m_) / det_i  # K = k1 k2
    root = np.sqrt(np.maximum(mean * mean - gauss, 0.0))
    # one usable axis (a one-pixel sliver): its normal curvature, the other direction 0
    kx = np.where(okx & (e > 0), l_ / np.where(e > 0, e, 1.0), 0.0)
    ky = np.where(oky & (g > 0), n_ / np.where(g > 0, g, 1.0), 0.0)
    k_one = np.where(okx, kx, ky)  # 0 where neither axis is usable
    k1 = np.where(good, mean + root, np.maximum(k_one, 0.0))
    k2 = np.where(good, mean - root, np.minimum(k_one, 0.0))
    return np.stack([k1, k2], 1)


def curvature_from_label(label: NDArray[np.floating]) -> F64:
    """Curvatures in 1/m from :func:`curvature_label` (exact below saturation)."""
    x = np.clip(np.asarray(label, dtype=np.float64), -1 + 1e-7, 1 - 1e-7)
    return np.arctanh(x) / CURVATURE_SCALE


# ----------------------------------------------------------------------------------------------
# occlusion edges


def occlusion_pairs(points: F64, normal: F64, pixel_angle: float) -> tuple[B, B]:
    """Depth discontinuities between horizontal and vertical pixel neighbours.

    ``points``/``normal``: (V, 3, H, W) camera-frame 3D points and unit normals.
    Returns (horizontal (V, H, W-1), vertical (V, H-1, W)) boolean jump maps.

    A pair is a jump when either test fires:

    - footprint: the points are further apart than their pixel footprints can explain (a
      silhouette, where a grazing surface meets what lies behind it);
    - tangent planes: the two surfaces cannot meet between the pixel rays. The inverse depth
      of a plane is affine along the image (``1/z(r) = n·r / n·X``, rays with z = 1), so
      two tangent planes cross between the rays exactly when ``w_p - w_q`` changes sign;
      creases and curved surfaces always cross, a step between parallel or receding surfaces
      never does, whatever its size relative to the footprint (a bed before a wall, a
      recessed mattress, window frames at 32²).
    """
    dist = np.linalg.norm(points, axis=1)  # (V, H, W)
    ndx = (normal * points).sum(1)  # n · X, negative: normals face the camera
    cos = np.abs(ndx) / np.maximum(dist, 1e-12)
    foot = dist * pixel_angle / np.maximum(cos, MIN_COS)  # metres a pixel spans on its surface
    z = np.maximum(points[:, 2], 1e-12)
    ray = points / z[:, None]  # z = 1 rays
    judged = cos > MIN_COS  # tangent planes seen edge-on say nothing about the neighbour
    inv_ndx = np.where(judged, 1.0 / np.where(judged, ndx, 1.0), 0.0)
    out = []
    for axis in (-1, -2):
        n = points.shape[axis]

        def pair(a: F64, axis: int = axis, n: int = n) -> tuple[F64, F64]:
            return np.take(a, range(n - 1), axis=axis), np.take(a, range(1, n), axis=axis)

        (pp, pq), (fp, fq), (zp, zq) = pair(points), pair(foot), pair(z)
        (np_, nq), (rp, rq), (ip, iq) = pair(normal), pair(ray), pair(inv_ndx)
        gap = np.linalg.norm(pq - pp, axis=1)
        d0 = 1.0 - zp * (nq * rp).sum(1) * iq  # relative miss of q's plane on p's ray
        d1 = zq * (np_ * rq).sum(1) * ip - 1.0  # ... of p's plane on q's ray
        apart = (d0 * d1 > 0) & (np.minimum(np.abs(d0), np.abs(d1)) > OCCLUSION_MEET_TOL)
        both = pair(judged.astype(np.float64))
        out.append((gap > OCCLUSION_KAPPA * (fp + fq)) | (apart & (both[0] * both[1] > 0)))
    return out[0], out[1]


def _edge_sigma(size: int) -> float:
    return 0.6 * size / 64


@lru_cache(maxsize=16)
def _line_peak(sigma: float) -> float:
    """Peak of a blurred two-pixel-wide line (the blur's response to a marked edge)."""
    x = np.zeros(64)
    x[31:33] = 1.0
    return float(ndi.gaussian_filter1d(x, sigma, mode="constant").max())


def edge_occlusion(jumps: tuple[B, B], valid: B) -> F32:
    """Blurred occlusion-edge strength (V, 1, H, W) in [0, 1]; 0 where geometry is invalid.

    ``jumps``: the (horizontal, vertical) maps of :func:`occlusion_pairs`.
    """
    jh, jv = jumps
    e = np.zeros(valid.shape, dtype=np.float64)  # (V, H, W)
    e[..., 1:] = np.maximum(e[..., 1:], jh)
    e[..., :-1] = np.maximum(e[..., :-1], jh)
    e[..., 1:, :] = np.maximum(e[..., 1:, :], jv)
    e[..., :-1, :] = np.maximum(e[..., :-1, :], jv)
    s = _edge_sigma(int(valid.shape[-1]))
    e = ndi.gaussian_filter(e, (0, s, s), mode="nearest") / _line_peak(s)
    return (np.clip(e, 0.0, 1.0) * valid)[:, None].astype(np.float32)


# ----------------------------------------------------------------------------------------------
# keypoints and texture edges


def _grad(x: F64) -> tuple[F64, F64]:
    """Central differences along the last two axes (edge pixels: one-sided)."""
    gy = np.empty_like(x)
    gx = np.empty_like(x)
    gy[..., 1:-1, :] = 0.5 * (x[..., 2:, :] - x[..., :-2, :])
    gy[..., 0, :] = x[..., 1, :] - x[..., 0, :]
    gy[..., -1, :] = x[..., -1, :] - x[..., -2, :]
    gx[..., 1:-1] = 0.5 * (x[..., 2:] - x[..., :-2])
    gx[..., 0] = x[..., 1] - x[..., 0]
    gx[..., -1] = x[..., -1] - x[..., -2]
    return gx, gy


def harris(channels: F64, sigma: float) -> F64:
    """Harris corner response of a multi-channel image stack (V, C, H, W) -> (V, H, W)."""
    gx, gy = _grad(channels)
    s = (0, sigma, sigma)
    ixx = ndi.gaussian_filter((gx * gx).sum(1), s, mode="nearest")
    iyy = ndi.gaussian_filter((gy * gy).sum(1), s, mode="nearest")
    ixy = ndi.gaussian_filter((gx * gy).sum(1), s, mode="nearest")
    return ixx * iyy - ixy * ixy - HARRIS_K * (ixx + iyy) ** 2


def _normalize_max(r: F64) -> F32:
    """``sqrt(max(r, 0) / max over the view)``: Harris responses scale with gradient⁴."""
    r = np.maximum(r, 0.0)
    peak = r.reshape(len(r), -1).max(1)  # (V,)
    return np.sqrt(r / np.maximum(peak, 1e-30)[:, None, None])[:, None].astype(np.float32)


def gray(rgb: F64) -> F64:
    """Luma (Rec. 601) of (V, 3, H, W) images -> (V, H, W)."""
    return 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]


def keypoints2d(rgb: F64) -> F32:
    """2D interest-point response (V, 1, H, W) in [0, 1] from the gray image."""
    return _normalize_max(harris(gray(rgb)[:, None], sigma=rgb.shape[-1] / 64))


def keypoints3d(logz: F64, normal: F64, valid: B) -> F32:
    """3D interest-point response (V, 1, H, W) in [0, 1] from log-depth and normals."""
    # 2 * log z: an occlusion step of 50% depth weighs like a ~45° crease
    feats = np.concatenate([2.0 * logz[:, None], normal], axis=1)  # (V, 4, H, W)
    r = harris(feats, sigma=logz.shape[-1] / 64) * valid
    return _normalize_max(r)


def edge_texture(rgb: F64) -> F32:
    """Sobel magnitude of the RGB (max over channels), (V, 1, H, W) in [0, 1]."""
    dx = ndi.correlate1d(rgb, [-1.0, 0.0, 1.0], axis=-1, mode="nearest")
    dx = ndi.correlate1d(dx, [1.0, 2.0, 1.0], axis=-2, mode="nearest")
    dy = ndi.correlate1d(rgb, [-1.0, 0.0, 1.0], axis=-2, mode="nearest")
    dy = ndi.correlate1d(dy, [1.0, 2.0, 1.0], axis=-1, mode="nearest")
    mag = np.sqrt(dx * dx + dy * dy).max(1) / 4.0  # a unit step gives 4 -> 1
    return np.clip(mag, 0.0, 1.0)[:, None].astype(np.float32)


# ----------------------------------------------------------------------------------------------
# segmentation


def segment_unsup2d(rgb: F64) -> I64:
    """Felzenszwalb segmentation of each RGB view, (V, H, W) int64 ids from 0."""
    size = rgb.shape[-1]
    out = np.empty((rgb.shape[0], rgb.shape[2], rgb.shape[3]), dtype=np.int64)
    for v in range(rgb.shape[0]):
        out[v] = felzenszwalb(
            np.ascontiguousarray(rgb[v].transpose(1, 2, 0)),
            scale=100.0,  # skimage divides by 255: the reference implementation's k = 100
            sigma=0.5 * size / 64,
            min_size=max(4, size * size // 256),
        )
    return out


def _components(link_h: B, link_v: B) -> I64:
    """Connected components of pixel grids with given links: (V, H, W-1), (V, H-1, W) -> (V, H, W).

    Ids are unique over all views and increase with the view index (raster order).
    """
    v, h, w = link_h.shape[0], link_h.shape[1], link_v.shape[2]
    g = np.zeros((v, 2 * h, 2 * w - 1), dtype=bool)  # pixels at even positions, links between
    g[:, 0 : 2 * h : 2, ::2] = True
    g[:, 0 : 2 * h : 2, 1::2] = link_h
    g[:, 1 : 2 * h - 1 : 2, ::2] = link_v  # the last row of each view stays empty: a separator
    lab, _ = ndi.label(g.reshape(2 * v * h, 2 * w - 1))  # 4-connectivity
    return lab.reshape(v, 2 * h, 2 * w - 1)[:, ::2, ::2].astype(np.int64) - 1


_COS45 = math.cos(math.radians(45))


def _merge_small(lab: I64, min_size: int, normal: F64, joined: tuple[B, B]) -> I64:
    """Merge segments smaller than ``min_size`` into the adjacent segment of most similar normal.

    ``lab`` (V, H, W) non-negative ids, unique over views and increasing with the view index;
    ``normal`` (V, 3, H, W); ``joined`` (horizontal (V, H, W-1), vertical (V, H-1, W)): the
    neighbour pairs a merge may cross. Only into a neighbour within 45° and across a joined
    pair: fragments of one curved surface are merged, while a sliver of a differently
    oriented face (a box side seen edge-on) or one across an occlusion (a floor strip under
    a table top) stays a segment of its own. Returns ids counted from 0 in every view.
    """
    nv, h, w = lab.shape
    flat = lab.ravel().copy()
    nrm = normal.transpose(1, 0, 2, 3).reshape(3, -1)  # (3, V * H * W)
    small = np.bincount(flat)[flat] < min_size
    jh, jv = joined
    # may pixel i merge across to its up / down / left / right neighbour
    can = np.zeros((4, nv, h, w), dtype=bool)
    can[0, :, 1:] = jv
    can[1, :, :-1] = jv
    can[2, :, :, 1:] = jh
    can[3, :, :, :-1] = jh
    can_flat = can.reshape(4, -1)
    idx = np.flatnonzero(small)  # work on the few small-segment pixels only
    for _ in range(4):  # tiny segments are at most a few pixels across
        if idx.size == 0:
            break
        best = np.full(idx.size, _COS45)
        target = np.full(idx.size, -1)
        for d, step in enumerate((-w, w, -1, 1)):
            ok = can_flat[d, idx]  # also false on the image border
            nb = np.where(ok, idx + step, idx)
            score = (nrm[:, idx] * nrm[:, nb]).sum(0)
            better = ok & ~small[nb] & (score > best)
            best = np.where(better, score, best)
            target = np.where(better, nb, target)
        moved = target >= 0
        flat[idx[moved]] = flat[target[moved]]  # simultaneous: targets are never small
        small[idx[moved]] = False
        idx = idx[~moved]
    present = np.bincount(flat) > 0
    new_id = np.cumsum(present) - 1  # consecutive ids, order kept (so views stay ordered)
    out = new_id[flat].reshape(nv, -1)
    return (out - out.min(1, keepdims=True)).reshape(nv, h, w)


def segment_unsup25d(jumps: tuple[B, B], normal: F64, curvature: F64, valid: B) -> I64:
    """Smooth-surface segmentation of the geometry, (V, H, W) int64 ids from 0.

    ``jumps``: :func:`occlusion_pairs`; ``normal`` (V, 3, H, W); ``curvature`` (V, 2, H, W).
    """
    jh, jv = jumps
    cos20 = math.cos(math.radians(20))
    nh = (normal[..., 1:] * normal[..., :-1]).sum(1) > cos20
    nv = (normal[..., 1:, :] * normal[..., :-1, :]).sum(1) > cos20
    kq = np.tanh(0.2 * curvature.sum(1))  # squashed mean curvature (x2): planes 0
    ch = np.abs(kq[..., 1:] - kq[..., :-1]) < 0.15
    cv = np.abs(kq[..., 1:, :] - kq[..., :-1, :]) < 0.15
    vh = valid[..., 1:] == valid[..., :-1]
    vv = valid[..., 1:, :] == valid[..., :-1, :]
    link_h = ~jh & nh & ch & vh
    link_v = ~jv & nv & cv & vv
    size = valid.shape[-1]
    joined = (~jh & vh, ~jv & vv)
    return _merge_small(_components(link_h, link_v), max(3, size * size // 1024), normal, joined)


# ----------------------------------------------------------------------------------------------
# room layout and vanishing points


def room_frame(r_wc: F64, room: F64) -> tuple[F64, F64]:
    """Room axes as seen by cameras ``r_wc`` (V, 3, 3), and the room's size along them.

    Axes (columns of each returned (3, 3) matrix, camera frame): ``z`` = the horizontal room
    axis closest to the viewing direction (pointing forward), ``y`` = gravity (down),
    ``x = y × z`` (pointing right). This removes the box's symmetry ambiguity: the rotation
    stays within ±45° of yaw. Returns (axes (V, 3, 3), sizes (V, 3)).
    """
    f = r_wc[:, :, 2]  # (V, 3) viewing directions (world)
    cands = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 0, 1.0], [0, 0, -1.0]])
    ez = cands[np.argmax(f @ cands.T, axis=1)]  # (V, 3)
    ey = np.broadcast_to(np.array([0.0, -1.0, 0.0]), ez.shape)
    ex = np.cross(ey, ez)
    axes_w = np.stack([ex, ey, ez], axis=2)  # (V, 3, 3) columns in world
    sizes = np.einsum("vij,i->vj", np.abs(axes_w), room)  # extent along each axis
    return np.einsum("vji,vjk->vik", r_wc, axes_w), sizes


def room_layout(r_wc: F64, c: F64, room: F64) -> F32:
    """(V, 9): room rotation (axis-angle, camera frame), centre (camera frame), size (m).

    ``r_wc`` (V, 3, 3) and ``c`` (V, 3): the cameras; ``room`` (3,): the room box size.
    """
    axes, sizes = room_frame(r_wc, room)
    rotvec = Rotation.from_matrix(axes).as_rotvec()  # (V, 3)
    centre = np.einsum("vji,vj->vi", r_wc, room / 2 - c)  # R^T (centre - C)
    return np.concatenate([rotvec, centre, sizes], axis=1).astype(np.float32)


def vanishing_point(r_wc: F64, room: F64) -> F32:
    """(V, 9): the room's x (right), y (down), z (forward) axes as unit camera-frame vectors."""
    axes, _ = room_frame(r_wc, room)
    return axes.transpose(0, 2, 1).reshape(-1, 9).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# self-supervised inputs


@lru_cache(maxsize=8)
def jigsaw_permutations(n: int, seed: int = 0) -> tuple[tuple[int, ...], ...]:
    """A fixed set of ``n`` permutations of 9 tiles with large pairwise Hamming distance.

    Greedy max-min selection over all 9! permutations (as in Noroozi & Favaro 2016): start
    from one drawn with ``seed``, repeatedly add the permutation farthest (in Hamming
    distance) from the chosen set; ties go to the first in lexicographic order.
    """
    allp = all_permutations(9)  # (362880, 9), lexicographic
    cols = np.ascontiguousarray(allp.T)  # (9, 362880): one tile position per row

    def hamming(i: int) -> NDArray[np.uint8]:
        d = np.zeros(cols.shape[1], dtype=np.uint8)
        for pos in range(9):  # 9 contiguous compares beat one (N, 9) reduction ~5×
            d += cols[pos] != cols[pos, i]
        return d

    rng = np.random.default_rng(seed)
    first = int(rng.integers(len(allp)))
    chosen = [first]
    mind = hamming(first)
    for _ in range(n - 1):
        nxt = int(np.argmax(mind))
        chosen.append(nxt)
        np.minimum(mind, hamming(nxt), out=mind)
    return tuple(tuple(int(x) for x in allp[i]) for i in chosen)


def all_permutations(n: int) -> NDArray[np.int8]:
    """Every permutation of ``range(n)`` in lexicographic order, (n!, n) — as
    ``itertools.permutations`` lists them, built in numpy: the block starting with ``e``
    is ``e`` followed by the permutations of ``n - 1`` mapped onto the other values."""
    perms = np.zeros((1, 0), dtype=np.int8)
    for k in range(1, n + 1):  # perms of range(k) from those of range(k - 1)
        blocks = []
        for first in range(k):
            rest = np.array([v for v in range(k) if v != first], dtype=np.int8)
            head = np.full((len(perms), 1), first, dtype=np.int8)
            blocks.append(np.concatenate([head, rest[perms]], axis=1))
        perms = np.concatenate(blocks)
    return perms


def jigsaw(rgb: F64, perms: NDArray[np.int64]) -> F64:
    """Shuffle 3×3 tiles of each view: output tile k is input tile ``perm[k]`` (row-major).

    Tiles are ``(H // 3, W // 3)``; rows/columns beyond ``3 * (H // 3)`` stay in place.
    """
    v, c, h, w = rgb.shape
    th, tw = h // 3, w // 3
    out = rgb.copy()
    region = rgb[:, :, : 3 * th, : 3 * tw].reshape(v, c, 3, th, 3, tw)
    tiles = region.transpose(0, 2, 4, 1, 3, 5).reshape(v, 9, c, th, tw)
    shuffled = tiles[np.arange(v)[:, None], perms]  # (V, 9, C, th, tw)
    out[:, :, : 3 * th, : 3 * tw] = (
        shuffled.reshape(v, 3, 3, c, th, tw)
        .transpose(0, 3, 1, 4, 2, 5)
        .reshape(v, c, 3 * th, 3 * tw)
    )
    return out


def gray_input(rgb: F64) -> F64:
    """The colorization input: luma replicated to 3 channels."""
    g = gray(rgb)[:, None]
    return np.repeat(g, 3, axis=1)


def masked_input(rgb: F64, fraction: float) -> F64:
    """The inpainting input: a centred square of side ``fraction * size`` set to 0."""
    out = rgb.copy()
    h, w = rgb.shape[-2:]
    sh, sw = max(1, round(h * fraction)), max(1, round(w * fraction))
    r0, c0 = (h - sh) // 2, (w - sw) // 2
    out[..., r0 : r0 + sh, c0 : c0 + sw] = 0.0
    return out


def noised_input(rgb: F64, std: float, rng: np.random.Generator) -> F64:
    """The denoising input: additive Gaussian noise, clipped to [0, 1]."""
    return np.clip(rgb + rng.normal(0.0, std, rgb.shape), 0.0, 1.0)
