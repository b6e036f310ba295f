"""The centre line of the LV wall in an apical four-chamber frame.

The wall (myocardium) mask of an A4C frame is an inverted U: septum on the left of the LV in the
standard display, apex at the top, the two basal ends (at the mitral annulus) at the bottom. Its centre
line runs from the septal basal end through the apex to the lateral basal end.

Method (no skeleton, so no spurs to prune): the two basal ends are the two ends of the wall's geodesic
diameter (the pair of wall pixels farthest apart along paths inside the wall); the centre line is the
minimal path between them on the pixel graph where stepping onto a pixel costs more the closer it lies
to the wall's border (cost ~ 1 / distance**2), so the path follows the medial ridge. The path is
smoothed, moved to sub-pixel half-way between the two borders along its normals, continued straight
to the ends of the wall, and resampled at equal arc length. All geometry is in mm, using the
(row, column) pixel spacing.

Small holes are filled and specks dropped first. A wall in several large pieces (drop-out, or cut by
the sector edge) is joined end to end across each gap by a straight bridge, choosing the join that
keeps the apex above the base; the line's points on a bridge are marked (``in_wall``) and measure
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import dijkstra

from echo_monai.errors import EchoDataError

__all__ = ["WallCenterline", "clean_wall_mask", "ray_exit_mm", "soft_wall", "wall_centerline"]

# 8-neighbourhood offsets (row, col).
_OFFSETS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


@dataclass
class WallCenterline:
    """An ordered wall centre line.

    Attributes:
        points_mm: (N, 2) (row, column) positions in mm, septal basal end -> apex -> lateral basal end,
            at equal arc-length steps.
        normals: (N, 2) unit normals pointing into the LV cavity (row, column components, mm space).
        arc_mm: (N,) arc length from the septal end, mm.
        apex_index: index of the apex: the point farthest from the midpoint of the two basal ends.
        spacing_mm: (row, column) pixel size in mm.
        in_wall: (N,) bool, False where the line bridges a gap in a broken wall.
    """

    points_mm: np.ndarray
    normals: np.ndarray
    arc_mm: np.ndarray
    apex_index: int
    spacing_mm: tuple[float, float]
    in_wall: np.ndarray

    @property
    def points_px(self) -> np.ndarray:
        """(N, 2) (row, column) positions in pixels."""
        return self.points_mm / np.asarray(self.spacing_mm)

    @property
    def length_mm(self) -> float:
        return float(self.arc_mm[-1])


def _check_spacing(spacing_mm: tuple[float, float] | float) -> tuple[float, float]:
    s = (float(spacing_mm),) * 2 if np.isscalar(spacing_mm) else tuple(float(v) for v in spacing_mm)
    if len(s) != 2 or not all(np.isfinite(v) and v > 0 for v in s):
        raise EchoDataError(None, f"pixel spacing must be one or two positive numbers (mm), got {spacing_mm}")
    return s  # type: ignore[return-value]


def clean_wall_mask(
    mask: np.ndarray, max_hole_fraction: float = 0.1, min_piece_fraction: float = 0.1
) -> np.ndarray:
    """The wall's substantial 8-connected pieces with their small holes filled.

    Args:
        mask: (H, W) wall mask, non-zero = wall.
        max_hole_fraction: holes (background pieces not touching the image border) smaller than this
            fraction of the wall area are filled; the LV cavity, even when the basal ends touch, is far
            larger than that and stays open.
        min_piece_fraction: pieces smaller than this fraction of the largest are specks and dropped;
            larger ones are parts of a broken wall (a gap, drop-out, the sector edge) and kept.

    Returns:
        (H, W) bool.

    Raises:
        EchoDataError: empty mask.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise EchoDataError(None, f"wall mask must be (H, W), got shape {m.shape}")
    m = m > 0
    lab, n = ndimage.label(m, structure=np.ones((3, 3)))
    if n == 0:
        raise EchoDataError(None, "wall mask is empty")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    m = (sizes >= min_piece_fraction * sizes.max())[lab] & m
    holes, n_holes = ndimage.label(~m)  # 4-connected background
    if n_holes:
        border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
        hole_sizes = np.bincount(holes.ravel(), minlength=n_holes + 1)
        small = (hole_sizes < max_hole_fraction * m.sum()) & ~np.isin(np.arange(n_holes + 1), border)
        small[0] = False
        m |= small[holes]
    return m


def _bridge_options(rows: np.ndarray, cols: np.ndarray, m: np.ndarray, spacing: tuple[float, float]) -> list:
    """Ways to join the pieces of a broken wall, most plausible first; each an array of edges (i, j, length
    mm) between pixel indices. A gap lies between the ends of two pieces, so bridges join piece ends (the
    ends of each piece's geodesic diameter). One piece: a single empty option."""
    piece = ndimage.label(m, structure=np.ones((3, 3)))[0][rows, cols] - 1
    n = int(piece.max()) + 1
    if n == 1:
        return [np.zeros((0, 3))]
    xy = np.stack([rows, cols], axis=1) * np.asarray(spacing)
    graph = _pixel_graph(m, np.ones(rows.size), spacing, np.zeros((0, 3)), 1.0)
    ends = []
    for k in range(n):
        far = dijkstra(graph, indices=int(np.nonzero(piece == k)[0][0]))
        e1 = int(np.argmax(np.where(np.isfinite(far), far, -1)))
        far = dijkstra(graph, indices=e1)
        ends.append((e1, int(np.argmax(np.where(np.isfinite(far), far, -1)))))

    def edge(i: int, j: int) -> tuple[int, int, float]:
        return i, j, float(np.linalg.norm(xy[i] - xy[j]))

    if n == 2:  # the four end-to-end joins, shortest first
        joins = sorted((edge(i, j) for i in ends[0] for j in ends[1]), key=lambda e: e[2])
        return [np.asarray([e]) for e in joins]
    # More pieces: chain them greedily by their nearest ends (Prim's algorithm over the pieces).
    joined, edges = {0}, []
    while len(joined) < n:
        k_new, e = min(
            (
                (b, edge(i, j))
                for a in joined
                for b in range(n)
                if b not in joined
                for i in ends[a]
                for j in ends[b]
            ),
            key=lambda kv: kv[1][2],
        )
        joined.add(k_new)
        edges.append(e)
    return [np.asarray(edges)]


def _medial_path(
    m: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    d: np.ndarray,
    spacing: tuple[float, float],
    bridges: np.ndarray,
) -> np.ndarray:
    """Pixel indices (into rows/cols) of the medial minimal path between the ends of the geodesic diameter."""
    geodesic = _pixel_graph(m, np.ones(rows.size), spacing, bridges, 1.0)
    far = dijkstra(geodesic, indices=0)
    a = int(np.argmax(np.where(np.isfinite(far), far, -1)))
    far = dijkstra(geodesic, indices=a)
    b = int(np.argmax(np.where(np.isfinite(far), far, -1)))
    if a == b:
        raise EchoDataError(None, "wall mask has no two distinct ends")
    cost = (d.max() / d) ** 2
    medial = _pixel_graph(m, cost, spacing, bridges, float(cost.max()))
    _, pred = dijkstra(medial, indices=a, return_predecessors=True)
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    return np.asarray(path)


def _apex_above_base(pts: np.ndarray) -> bool:
    """Whether the point farthest from the midpoint of the two ends lies above that midpoint."""
    base_mid = 0.5 * (pts[0] + pts[-1])
    apex = pts[np.argmax(np.linalg.norm(pts - base_mid, axis=1))]
    return bool(apex[0] < base_mid[0])


def _pixel_graph(
    m: np.ndarray,
    node_cost: np.ndarray,
    spacing: tuple[float, float],
    bridges: np.ndarray,
    bridge_cost: float,
) -> sparse.csr_matrix:
    """Sparse 8-connected graph of the mask pixels; edge weight = step length (mm) x mean node cost.
    ``bridges`` (i, j, length) add edges across gaps, weighted length x ``bridge_cost``."""
    rows, cols = np.nonzero(m)
    index = -np.ones(m.shape, dtype=np.int64)
    index[rows, cols] = np.arange(rows.size)
    padded = np.pad(index, 1, constant_values=-1)
    src, dst, w = [], [], []
    for dr, dc in _OFFSETS:
        nbr = padded[rows + 1 + dr, cols + 1 + dc]
        ok = nbr >= 0
        step = float(np.hypot(dr * spacing[0], dc * spacing[1]))
        a, b = np.nonzero(ok)[0], nbr[ok]
        src.append(a)
        dst.append(b)
        w.append(step * 0.5 * (node_cost[a] + node_cost[b]))
    i, j = bridges[:, 0].astype(np.int64), bridges[:, 1].astype(np.int64)
    src += [i, j]
    dst += [j, i]
    w += [bridges[:, 2] * bridge_cost] * 2
    n = rows.size
    return sparse.csr_matrix((np.concatenate(w), (np.concatenate(src), np.concatenate(dst))), shape=(n, n))


def _resample(points: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample a polyline at equal arc-length steps; returns points and their arc lengths."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(np.ceil(arc[-1] / step)) + 1, 2)
    s = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(s, arc, points[:, k]) for k in range(2)], axis=1), s


def wall_centerline(
    mask: np.ndarray,
    spacing_mm: tuple[float, float] | float = (1.0, 1.0),
    septum_side: str = "left",
    smooth_mm: float | None = None,
    step_px: float = 0.5,
) -> WallCenterline:
    """Centre line of an A4C LV wall mask, ordered septal basal end -> apex -> lateral basal end.

    Args:
        mask: (H, W) wall mask, non-zero = wall.
        spacing_mm: (row, column) pixel size in mm (or one number).
        septum_side: ``"left"`` for the standard display (septum left of the LV); ``"right"`` for
            mirrored displays.
        smooth_mm: Gaussian smoothing of the path along its length (mm); default: the median wall
            half-thickness, enough to remove pixel staircase without cutting the apex.
        step_px: resampling step in pixels (of the smaller spacing).

    Returns:
        :class:`WallCenterline`.

    Raises:
        EchoDataError: empty mask, a wall too small to have two ends, or pieces of a broken wall that
            cannot be joined into an apex-up inverted U.
    """
    spacing = _check_spacing(spacing_mm)
    if septum_side not in ("left", "right"):
        raise ValueError(f"septum_side must be 'left' or 'right', got {septum_side!r}")
    m = clean_wall_mask(mask)
    if m.sum() < 10:
        raise EchoDataError(None, f"wall mask has only {int(m.sum())} pixels; too small for a centre line")
    # Padding keeps walls that touch the image edge from looking thicker there.
    dt = ndimage.distance_transform_edt(np.pad(m, 1), sampling=spacing)[1:-1, 1:-1]
    rows, cols = np.nonzero(m)
    d = dt[rows, cols]

    # A broken wall (drop-out, the sector edge) is joined across its gaps by straight bridges; points
    # of the centre line there lie outside the wall and measure nothing (see ``in_wall``).
    for bridges in _bridge_options(rows, cols, m, spacing):
        path = _medial_path(m, rows, cols, d, spacing, bridges)
        # A join that puts the apex below the base (e.g. across the two basal ends when the apex itself
        # is missing) is the wrong one: try the next.
        if _apex_above_base(np.stack([rows[path], cols[path]], axis=1) * np.asarray(spacing)):
            break
    else:
        raise EchoDataError(
            None, "the pieces of this broken wall cannot be joined into an apex-up inverted U"
        )
    # The diameter's ends are corners of the basal caps; the path runs from there diagonally onto the
    # medial ridge. Drop that run: keep the path from where it is at least half a wall away from the
    # border.
    on_ridge = np.nonzero(d[path] >= 0.5 * np.median(d[path]))[0]
    if on_ridge.size >= 2:
        path = path[on_ridge[0] : on_ridge[-1] + 1]
    pts = np.stack([rows[path], cols[path]], axis=1).astype(np.float64) * np.asarray(spacing)

    # Septal end first: the end with the smaller column in the standard display.
    if (pts[0, 1] > pts[-1, 1]) == (septum_side == "left"):
        pts = pts[::-1]
    step = step_px * min(spacing)
    pts, _ = _resample(pts, step)
    sigma = float(np.median(d)) if smooth_mm is None else float(smooth_mm)
    if sigma > 0:
        pts = ndimage.gaussian_filter1d(pts, sigma / step, axis=0, mode="nearest")
    pts, _ = _resample(pts, step)

    soft = soft_wall(m)
    reach = 6.0 * float(d.max()) + step
    # Sub-pixel medial position: move each point half-way between the two borders along its normal
    # (the pixel path can only lie on pixel centres, up to half a pixel off for even wall widths).
    normals = _unit_normals(pts)
    inner = ray_exit_mm(soft, pts, normals, spacing, reach)
    outer = ray_exit_mm(soft, pts, -normals, spacing, reach)
    shift = np.nan_to_num(0.5 * (inner - outer))
    if sigma > 0:
        shift = ndimage.gaussian_filter1d(shift, sigma / step, mode="nearest")
    pts = pts + shift[:, None] * normals
    # The ridge stops about half a wall short of each basal end; continue straight to the wall's end.
    ends = []
    for tip, inner_pt in ((pts[0], pts[min(4, len(pts) - 1)]), (pts[-1], pts[max(len(pts) - 5, 0)])):
        direction = tip - inner_pt
        direction /= max(float(np.linalg.norm(direction)), 1e-12)
        reach_tip = ray_exit_mm(soft, tip[None], direction[None], spacing, reach)[0]
        ends.append(tip + (0.0 if np.isnan(reach_tip) else reach_tip) * direction)
    pts, arc = _resample(np.concatenate([ends[0][None], pts, ends[1][None]]), step)

    # The apex ends the LV long axis drawn from the middle of the base (as in Simpson's method).
    base_mid = 0.5 * (pts[0] + pts[-1])
    apex = int(np.argmax(np.linalg.norm(pts - base_mid, axis=1)))

    normals = _unit_normals(pts)
    # One rotation direction for the whole curve; pick the one pointing from the apex into the LV.
    if normals[apex] @ (base_mid - pts[apex]) < 0:
        normals = -normals
    px = (pts / np.asarray(spacing)).T
    # 0.25, not 0.5: the two end points lie on the border itself (value 0.5) and belong to the wall.
    in_wall = ndimage.map_coordinates(soft, px, order=1, mode="constant") >= 0.25
    return WallCenterline(
        points_mm=pts, normals=normals, arc_mm=arc, apex_index=apex, spacing_mm=spacing, in_wall=in_wall
    )


def _unit_normals(pts: np.ndarray) -> np.ndarray:
    """(N, 2) unit normals of a polyline (tangent turned by +90 degrees)."""
    tangent = np.gradient(pts, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def soft_wall(wall: np.ndarray) -> np.ndarray:
    """A lightly blurred float copy of a wall mask; its 0.5 level is a sub-pixel wall border."""
    return ndimage.gaussian_filter(np.asarray(wall, dtype=np.float64), 0.7)


def ray_exit_mm(
    soft: np.ndarray,
    points_mm: np.ndarray,
    directions: np.ndarray,
    spacing_mm: tuple[float, float],
    max_mm: float,
) -> np.ndarray:
    """Distance (mm) along each ray from a point inside the wall to where the wall ends.

    Args:
        soft: (H, W) output of :func:`soft_wall`.
        points_mm: (N, 2) ray origins, (row, column) mm.
        directions: (N, 2) unit directions.
        spacing_mm: (row, column) pixel size.
        max_mm: give up after this distance.

    Returns:
        (N,) distances to the 0.5 crossing (linear between samples); NaN where the ray does not leave
        the wall within ``max_mm`` or starts outside it.
    """
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    step = 0.25 * float(spacing.min())
    s = np.arange(0.0, max_mm + step, step)
    pos = points_mm[:, None, :] + s[None, :, None] * directions[:, None, :]  # (N, S, 2)
    value = ndimage.map_coordinates(soft, (pos / spacing).reshape(-1, 2).T, order=1, mode="constant")
    value = value.reshape(pos.shape[:2])
    outside = value < 0.5
    outside[:, 0] = False
    k = np.maximum(np.argmax(outside, axis=1), 1)
    rows = np.arange(k.size)
    v0, v1 = value[rows, k - 1], value[rows, k]
    frac = np.clip((v0 - 0.5) / np.maximum(v0 - v1, 1e-12), 0.0, 1.0)
    return np.where(outside.any(axis=1) & (value[:, 0] >= 0.5), (k - 1 + frac) * step, np.nan)
