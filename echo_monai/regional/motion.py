"""Per-segment endocardial displacement and wall thickening over one cardiac cycle.

For every frame from end-diastole (ED) to end-systole (ES), each frame's own centre line gives:

- the endocardial and epicardial borders, found by walking from each centre-line point along its
  normal, into the cavity and away from it, to where the wall ends (sub-pixel: the 0.5 crossing of a
  lightly blurred mask, so a pixel staircase does not bias the distances);
- the wall thickness at each point (endocardial + epicardial distance along the normal), averaged per
  segment; thickening = 100 * (thickest - ED) / ED, in %.

Displacement of a segment at frame t is measured on chords normal to the ED endocardium (akin to the
chord methods of regional wall motion, e.g. Sheehan's centre-line method, whose chords are normal to
the ED-ES midline instead): from each ED endocardial point of the segment, the signed distance along
its inward normal to where frame t's endocardial border crosses it, averaged over the points
(positive = into the cavity, mm). It is a fixed frame of reference (the image), so whole-heart
translation is not removed. ED points whose normal does not cross frame t's border (e.g. past a basal
end that has moved toward the apex) are left out. Regional shortening divides the peak displacement
by the segment's distance from the LV long axis, so that segments near the apex (small radius, small
motion) compare fairly with basal ones.

A broken wall (drop-out, cut by the sector edge) is measured where it exists; a segment less than half
present is NaN (not assessable). Peak values over ED..ES are used rather than the ES frame alone, so an
ES index one or two frames off changes little.

Peaks are taken on curves smoothed over time (a Gaussian whose sigma is a tenth of the ED -> ES
frames by default, about 30 ms of a 300 ms systole at any frame rate). A predicted mask's borders
jitter by a pixel or so from frame to frame; the largest of many noisy frames is biased upward, which
hides a hypokinetic segment (its noise reads as motion) and, through a noisy ED thickness, makes a
normal one look thin. On held-out synthetic A4C clips it raised the sensitivity for abnormal segments
from predicted masks at a small cost in specificity, and left the detection from true masks unchanged
(``benchmarks/results/wall_segmentation.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from echo_monai.errors import EchoDataError
from echo_monai.regional.centerline import (
    WallCenterline,
    _check_spacing,
    clean_wall_mask,
    ray_exit_mm,
    soft_wall,
    wall_centerline,
)
from echo_monai.regional.segments import centerline_segments, split_wall_segments

__all__ = ["SegmentMotion", "endocardial_border", "segment_motion"]


@dataclass
class SegmentMotion:
    """Regional motion of the six segments over frames ``frames`` (ED first).

    Attributes:
        frames: (F,) frame indices, ED first, then toward ES.
        displacement_mm: (F, 6) inward endocardial displacement from ED, mm (row 0 is 0; a NaN row is a
            frame whose mask could not be traced).
        thickness_mm: (F, 6) mean wall thickness per segment, mm.
        peak_displacement_mm: (6,) largest displacement over the frames (of the time-smoothed curve;
            the per-frame arrays above are as measured), mm. NaN here and in the other
            per-segment values marks a segment that could not be measured (less than half of it in
            the wall, e.g. a gap in a broken mask).
        thickening_pct: (6,) 100 * (largest thickness - ED thickness) / ED thickness, both of the
            time-smoothed thickness curve.
        radius_mm: (6,) mean distance of the segment's ED endocardium from the LV long axis, mm.
        shortening_pct: (6,) regional shortening, 100 * peak displacement / radius: comparable between
            segments near the apex (small radius, small motion) and near the base.
        ed_segments: (H, W) uint8 segment labels (1..6) of the ED frame.
        ed_centerline: the ED wall centre line.
        spacing_mm: (row, column) pixel size in mm.
    """

    frames: np.ndarray
    displacement_mm: np.ndarray
    thickness_mm: np.ndarray
    peak_displacement_mm: np.ndarray
    thickening_pct: np.ndarray
    radius_mm: np.ndarray
    shortening_pct: np.ndarray
    ed_segments: np.ndarray
    ed_centerline: WallCenterline
    spacing_mm: tuple[float, float]


def _border_distances(mask: np.ndarray, centerline: WallCenterline) -> np.ndarray:
    """Distance (mm) from each centre-line point to where the wall ends along the normal, inward and
    outward, shape (N, 2); NaN where the ray does not leave the wall."""
    wall = clean_wall_mask(mask)
    dt = ndimage.distance_transform_edt(np.pad(wall, 1), sampling=centerline.spacing_mm)
    reach = 6.0 * float(dt.max())
    soft = soft_wall(wall)
    pts, n, spacing = centerline.points_mm, centerline.normals, centerline.spacing_mm
    out = np.stack(
        [ray_exit_mm(soft, pts, n, spacing, reach), ray_exit_mm(soft, pts, -n, spacing, reach)], axis=1
    )
    # Within about half a wall of a basal end the normals run into the end cap's corners, not across
    # the wall: leave those points out.
    margin = 0.5 * float(np.nanmedian(out.sum(axis=1)))
    arc = centerline.arc_mm
    out[(arc < margin) | (arc > arc[-1] - margin)] = np.nan
    return out


def endocardial_border(mask: np.ndarray, centerline: WallCenterline) -> tuple[np.ndarray, np.ndarray]:
    """Endocardial border points, one per centre-line point, found along the inward normals.

    Args:
        mask: (H, W) wall mask of the same frame as ``centerline``.
        centerline: its centre line.

    Returns:
        points (N, 2) in mm (row, column) and valid (N,) bool (False where the ray never left the wall).
    """
    inward = _border_distances(mask, centerline)[:, 0]
    valid = np.isfinite(inward)
    return centerline.points_mm + np.nan_to_num(inward)[:, None] * centerline.normals, valid


def _segment_means(values: np.ndarray, labels: np.ndarray, min_coverage: float = 0.5) -> np.ndarray:
    """(6,) mean of the finite ``values`` per segment label 1..6; NaN for a segment where fewer than
    ``min_coverage`` of its points have a value (a gap in a broken wall, the image edge)."""
    ok = np.isfinite(values)
    sums = np.bincount(labels[ok], weights=values[ok], minlength=7)[1:7]
    counts = np.bincount(labels[ok], minlength=7)[1:7]
    totals = np.bincount(labels, minlength=7)[1:7]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((counts > 0) & (counts >= min_coverage * totals), sums / counts, np.nan)


def _nanmax0(values: np.ndarray) -> np.ndarray:
    """Column maxima ignoring NaN; NaN for an all-NaN column (without numpy's warning)."""
    finite = np.isfinite(values)
    return np.where(finite.any(axis=0), np.where(finite, values, -np.inf).max(axis=0), np.nan)


def _ray_hits(points: np.ndarray, normals: np.ndarray, polyline: np.ndarray, max_mm: float) -> np.ndarray:
    """Signed distance s along each ray ``points + s * normals`` to its nearest crossing of
    ``polyline`` (M, 2), |s| <= max_mm; NaN where the ray misses."""
    a, e = polyline[:-1], np.diff(polyline, axis=0)  # (M-1, 2)
    w = a[None] - points[:, None]  # (N, M-1, 2)
    n = normals[:, None]
    den = n[..., 0] * e[None, :, 1] - n[..., 1] * e[None, :, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (w[..., 0] * e[None, :, 1] - w[..., 1] * e[None, :, 0]) / den
        u = (w[..., 0] * n[..., 1] - w[..., 1] * n[..., 0]) / den
    with np.errstate(invalid="ignore"):
        hit = (np.abs(den) > 1e-12) & (u >= 0) & (u <= 1) & (np.abs(s) <= max_mm)
    s = np.where(hit, s, np.inf)
    best = np.argmin(np.abs(s), axis=1)
    out = s[np.arange(len(points)), best]
    return np.where(np.isfinite(out), out, np.nan)


def _smooth_in_time(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing of (F, 6) per-frame values along the frames, ignoring NaN (normalised
    convolution: a NaN frame is filled from its neighbours; a column with no value stays NaN). Returns a
    new array (the caller's per-frame values are kept as measured)."""
    if sigma_frames <= 0 or values.shape[0] < 2:
        return values.copy()
    ok = np.isfinite(values)
    num = ndimage.gaussian_filter1d(np.where(ok, values, 0.0), sigma_frames, axis=0, mode="nearest")
    den = ndimage.gaussian_filter1d(ok.astype(np.float64), sigma_frames, axis=0, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-3, num / den, np.nan)


def segment_motion(
    masks: np.ndarray,
    ed_frame: int,
    es_frame: int,
    spacing_mm: tuple[float, float] | float = (1.0, 1.0),
    septum_side: str = "left",
    method: str = "long_axis",
    temporal_smoothing: float = 0.1,
) -> SegmentMotion:
    """Per-segment endocardial displacement and thickening from ED to ES.

    Args:
        masks: (T, H, W) wall masks of one clip, non-zero = wall.
        ed_frame, es_frame: 0-based frame indices. Normally ES follows ED; if ES comes first (the clip
            starts in systole and the ED is the next one), the frames are taken from ED back to ES.
            ``es_frame`` may also be the end of the whole cycle (HMC-QU's annotated cycles run from one
            ED to the next): peaks are taken over all frames in between.
        spacing_mm: (row, column) pixel size in mm.
        septum_side: see :func:`~echo_monai.regional.centerline.wall_centerline`.
        method: how the segments are cut, see :mod:`~echo_monai.regional.segments`.
        temporal_smoothing: Gaussian sigma, as a fraction of the ED -> ES frame count, of the smoothing
            applied to each segment's displacement and thickness curves before their peaks are taken
            (0: none). Relative to the cycle, so it means the same time at any frame rate.

    Returns:
        :class:`SegmentMotion`.

    Raises:
        EchoDataError: bad shapes or frame indices, an ED frame whose wall cannot be traced, or no
            measurable frame after it. Other frames that cannot be traced (empty, no border) give NaN
            rows in ``displacement_mm`` and ``thickness_mm``.
        ValueError: a negative or non-finite ``temporal_smoothing``.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise EchoDataError(None, f"wall masks must be (T, H, W), got shape {masks.shape}")
    ed_frame, es_frame = int(ed_frame), int(es_frame)
    n = masks.shape[0]
    if not (0 <= ed_frame < n and 0 <= es_frame < n) or ed_frame == es_frame:
        raise EchoDataError(None, f"need two different frames among {n}, got ED {ed_frame}, ES {es_frame}")
    spacing = _check_spacing(spacing_mm)
    if not np.isfinite(temporal_smoothing) or temporal_smoothing < 0:
        raise ValueError(f"temporal_smoothing must be a fraction >= 0, got {temporal_smoothing}")
    # ES before ED (a clip that starts in systole): walk back from ED; the ED -> ES change is the same.
    frames = (
        np.arange(ed_frame, es_frame + 1) if es_frame > ed_frame else np.arange(ed_frame, es_frame - 1, -1)
    )
    disp = np.zeros((frames.size, 6))
    thick = np.zeros((frames.size, 6))
    ed_seg = ed_cl = None
    for i, t in enumerate(frames):
        try:
            cl = wall_centerline(masks[t], spacing, septum_side=septum_side)
        except EchoDataError as e:
            if i == 0:
                raise EchoDataError(None, f"ED frame {t}: {e.problem}") from e
            # One unusable predicted mask should not void the cycle: that frame is NaN.
            disp[i], thick[i] = np.nan, np.nan
            continue
        seg = split_wall_segments(masks[t], spacing, centerline=cl, method=method)
        labels = centerline_segments(cl, method)
        borders = _border_distances(masks[t], cl)
        thick[i] = _segment_means(borders.sum(axis=1), labels)
        if np.isfinite(borders[:, 0]).sum() < 2:
            if i == 0:
                raise EchoDataError(None, f"ED frame {t}: no endocardial border found")
            disp[i], thick[i] = np.nan, np.nan
            continue
        endo = cl.points_mm + borders[:, :1] * cl.normals  # NaN rows where the border was not found
        if i == 0:
            ed_seg, ed_cl, ed_endo, ed_labels, ed_normals = seg, cl, endo, labels, cl.normals
            # Distance of each ED endocardial point from the LV long axis (base midpoint -> apex).
            base_mid = 0.5 * (cl.points_mm[0] + cl.points_mm[-1])
            axis = cl.points_mm[cl.apex_index] - base_mid
            axis /= max(float(np.linalg.norm(axis)), 1e-9)
            rel = ed_endo - base_mid
            radius = _segment_means(np.abs(rel[:, 0] * axis[1] - rel[:, 1] * axis[0]), ed_labels)
            disp[0] = np.where(np.isfinite(radius), 0.0, np.nan)
            # Farther than half the basal width is the opposite wall, not this one.
            max_mm = 0.5 * float(np.linalg.norm(cl.points_mm[-1] - cl.points_mm[0]))
            continue
        # NaN points of either border drop out: their rays and polyline pieces never hit.
        inward = _ray_hits(ed_endo, ed_normals, endo, max_mm)
        disp[i] = _segment_means(inward, ed_labels)
    if not np.isfinite(disp[1:]).any():
        raise EchoDataError(None, f"no frame after ED {ed_frame} toward ES {es_frame} could be measured")
    sigma = float(temporal_smoothing) * (frames.size - 1)
    disp_s, thick_s = _smooth_in_time(disp, sigma), _smooth_in_time(thick, sigma)
    # A segment not measurable at ED stays so (smoothing would fill its ED row from later frames).
    disp_s[:, ~np.isfinite(disp[0])], thick_s[:, ~np.isfinite(thick[0])] = np.nan, np.nan
    peak = _nanmax0(disp_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        thickening = 100.0 * (_nanmax0(thick_s) - thick_s[0]) / thick_s[0]
        shortening = 100.0 * peak / radius
    return SegmentMotion(
        frames=frames,
        displacement_mm=disp,
        thickness_mm=thick,
        peak_displacement_mm=peak,
        thickening_pct=thickening,
        radius_mm=radius,
        shortening_pct=shortening,
        ed_segments=ed_seg,
        ed_centerline=ed_cl,
        spacing_mm=spacing,
    )
