"""Physical heart anatomy of the 11 views, as polygons in cm that deform over the cardiac cycle.

A scene is an ordered list of ``(code, polygon)`` drawn painter-style (later items cover earlier ones).
Polygons are (N, 2) arrays of ``(x, z)`` in cm in the imaging plane: ``x`` to the right of the screen,
``z`` depth below the transducer (the sector apex is at the origin). Codes are :data:`ANATOMY_LABELS` ids;
the six A4C LV wall segments are drawn with codes ``SEGMENT_CODE_BASE + 1 .. + 6`` so that one raster
gives both the anatomy and the HMC-QU segment map.

Proportions follow adult reference values (ASE chamber quantification): LV length ~8-9 cm and width
~4.5-5 cm at end-diastole, walls ~0.9-1.1 cm, LA ~4 cm, aortic root ~3 cm, EF 55-65 % with 30-50 % wall
thickening. Every patient draws its own sizes, shapes and wall thickness (:class:`HeartParams`), and every
clip its own pose (rotation, offset), so that no single fixed cue gives a view away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import ConvexHull

__all__ = [
    "ANATOMY_LABELS",
    "HMCQU_SEGMENTS",
    "SEGMENT_CODE_BASE",
    "HeartParams",
    "HeartState",
    "build_scene",
    "random_heart",
]

#: Label ids of the per-frame ``anatomy`` map in the truth files.
ANATOMY_LABELS: dict[int, str] = {
    0: "background (outside the sector or unlabelled soft tissue)",
    1: "LV cavity",
    2: "LV wall (myocardium)",
    3: "RV cavity",
    4: "LA",
    5: "RA",
    6: "aorta / LVOT",
    7: "valves and annuli",
    8: "papillary muscles",
    9: "liver",
    10: "pericardium",
    11: "other myocardium (RV free wall, septa, atrial walls)",
    12: "pulmonary artery / RVOT",
    13: "vessel wall and arch branches",
    14: "descending aorta",
    15: "chest wall",
    16: "diaphragm",
    17: "lung",
}

#: HMC-QU's six A4C segments, in the order of the ``segments`` map values 1..6 (AHA numbers).
HMCQU_SEGMENTS: tuple[tuple[int, str], ...] = (
    (3, "basal inferoseptal"),
    (9, "mid inferoseptal"),
    (14, "apical septal"),
    (16, "apical lateral"),
    (12, "mid anterolateral"),
    (6, "basal anterolateral"),
)

#: Scene code of A4C LV wall segment ``k`` (1..6) is ``SEGMENT_CODE_BASE + k``; its anatomy label is 2.
SEGMENT_CODE_BASE = 100

Polygon = np.ndarray
Scene = list[tuple[int, Polygon]]


@dataclass
class HeartParams:
    """One synthetic patient's heart, sizes in cm at end-diastole."""

    lv_length: float = 8.5
    lv_width: float = 4.8
    wall: float = 1.0
    ef: float = 0.6
    thickening: float = 0.4
    long_shortening: float = 0.14
    apex_power: float = 2.3  # LV profile: larger = blunter apex
    base_narrowing: float = 0.28  # mitral annulus narrower than the LV by this fraction
    la_width: float = 3.8
    la_length: float = 4.6
    ra_width: float = 3.6
    ra_length: float = 4.4
    rv_width: float = 3.4
    rv_length_ratio: float = 0.78
    ao_root: float = 3.0
    pa_diam: float = 2.3
    arch_radius: float = 3.2
    rv_wall: float = 0.45
    papillary: float = 0.55  # papillary muscle size (radius at ED), cm
    pericardium: float = 0.3
    infarcted: np.ndarray = field(default_factory=lambda: np.zeros(6, dtype=bool))
    hypokinesis: float = 0.3  # motion of an infarcted segment as a fraction of normal

    @property
    def fractional_shortening(self) -> float:
        """Short-axis shortening that gives ``ef`` with ``long_shortening`` (V ~ L * W^2)."""
        return float(1.0 - np.sqrt((1.0 - self.ef) / (1.0 - self.long_shortening)))


def random_heart(rng: np.random.Generator, *, infarct_prob: float = 0.0) -> HeartParams:
    """Draw a plausible adult heart; with ``infarct_prob`` 1-3 adjacent A4C segments are hypokinetic."""
    size = rng.normal(1.0, 0.06)
    infarcted = np.zeros(6, dtype=bool)
    if rng.random() < infarct_prob:
        n = int(rng.integers(1, 4))
        start = int(rng.integers(0, 7 - n))  # segments 1..6 run around the LV, so adjacent = consecutive
        infarcted[start:start + n] = True
    return HeartParams(
        lv_length=float(np.clip(rng.normal(8.4, 0.5), 7.3, 9.6) * size),
        lv_width=float(np.clip(rng.normal(4.75, 0.3), 4.1, 5.5) * size),
        wall=float(np.clip(rng.normal(0.98, 0.09), 0.75, 1.25)),
        ef=float(rng.uniform(0.53, 0.68)),
        thickening=float(rng.uniform(0.3, 0.5)),
        long_shortening=float(rng.uniform(0.1, 0.17)),
        apex_power=float(rng.uniform(1.8, 2.9)),
        base_narrowing=float(rng.uniform(0.2, 0.34)),
        la_width=float(np.clip(rng.normal(3.8, 0.3), 3.1, 4.6) * size),
        la_length=float(np.clip(rng.normal(4.6, 0.35), 3.8, 5.5) * size),
        ra_width=float(np.clip(rng.normal(3.6, 0.3), 3.0, 4.4) * size),
        ra_length=float(np.clip(rng.normal(4.3, 0.35), 3.6, 5.2) * size),
        rv_width=float(np.clip(rng.normal(3.3, 0.3), 2.6, 4.1) * size),
        rv_length_ratio=float(rng.uniform(0.68, 0.85)),
        ao_root=float(np.clip(rng.normal(3.0, 0.22), 2.5, 3.6) * size),
        pa_diam=float(np.clip(rng.normal(2.3, 0.2), 1.8, 2.8) * size),
        arch_radius=float(rng.uniform(2.6, 3.6) * size),
        rv_wall=float(rng.uniform(0.35, 0.55)),
        papillary=float(rng.uniform(0.4, 0.7)),
        pericardium=float(rng.uniform(0.2, 0.4)),
        infarcted=infarcted,
        hypokinesis=float(rng.uniform(0.15, 0.35)),
    )


@dataclass
class HeartState:
    """Mechanical state of one frame (see :mod:`echo_monai.synthetic.phases`)."""

    contraction: float
    mitral_open: float
    aortic_open: float
    atrial: float


# --------------------------------------------------------------------------------------------- geometry


def _rot(v: np.ndarray, ang: float) -> np.ndarray:
    """Rotate vectors (..., 2) by ``ang`` radians (positive turns +x toward +z, clockwise on screen)."""
    c, s = np.cos(ang), np.sin(ang)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


def ellipse(cx: float, cz: float, a: float, b: float, ang: float = 0.0, n: int = 72) -> Polygon:
    """Ellipse with semi-axes ``a`` (along its x) and ``b`` (along its z) rotated by ``ang`` about its centre."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    p = np.stack([a * np.cos(t), b * np.sin(t)], axis=-1)
    return _rot(p, ang) + np.array([cx, cz])


def tube(path: np.ndarray, radius: float | np.ndarray, n: int = 48) -> Polygon:
    """Polygon of a tube of ``radius`` (scalar or per path point) around a polyline ``path`` (M, 2)."""
    path = np.asarray(path, dtype=np.float64)
    # Resample the path so that curves stay smooth and long straight pieces keep vertices (for polar drawing).
    seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(path, axis=0).T))]
    s = np.linspace(0.0, seg[-1], n)
    p = np.stack([np.interp(s, seg, path[:, 0]), np.interp(s, seg, path[:, 1])], axis=-1)
    r = np.interp(s, seg, np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(path),)))
    d = np.gradient(p, axis=0)
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=-1)
    left, right = p + nrm * r[:, None], p - nrm * r[:, None]
    cap0 = p[0] + _rot(-d[:1] * r[0], np.linspace(np.pi / 2, 3 * np.pi / 2, 7)[:, None] * 0 + 0)[0]
    del cap0  # square ends are enough for vessels that leave the sector or join a chamber
    return np.concatenate([left, right[::-1]], axis=0)


def leaflet(hinge: np.ndarray, direction: float, length: float, curve: float = 0.15, thick: float = 0.1) -> Polygon:
    """A thin curved valve leaflet from ``hinge`` pointing at angle ``direction`` (radians from +x)."""
    d = np.array([np.cos(direction), np.sin(direction)])
    n = np.array([-d[1], d[0]])
    s = np.linspace(0.0, 1.0, 6)
    pts = hinge + np.outer(s * length, d) + np.outer(curve * length * np.sin(np.pi * s), n)
    r = thick * (1.0 - 0.4 * s)
    return tube(pts, r, n=10)


def _lerp(a: float, b: float, w: float) -> float:
    return a + (b - a) * w


# --------------------------------------------------------------------------------------------- the LV


def _segment_factors(heart: HeartParams, x: np.ndarray, side: int) -> np.ndarray:
    """Motion factor (1 = normal, ``hypokinesis`` = infarcted) along one side of the LV, smooth in ``x``.

    ``x`` runs from 0 at the base to 1 at the apex; ``side`` +1 is the septum (segments 1-3), -1 the lateral
    wall (segments 6-4).
    """
    segs = (0, 1, 2) if side > 0 else (5, 4, 3)
    k = np.where(heart.infarcted[list(segs)], heart.hypokinesis, 1.0)
    # constant within a segment, with short ramps across the borders (an infarct has a border zone)
    xs = np.array([0.0, 0.30, 0.38, 0.64, 0.72, 1.0])
    return np.interp(x, xs, np.repeat(k, 2))


SEGMENT_X_EDGES = (0.0, 0.34, 0.68, 1.0)  # base, basal/mid, mid/apical, apex along the LV long axis


@dataclass
class LVShape:
    """Contours of the LV in one frame (all (N, 2) in cm)."""

    cavity: Polygon
    segments: list[Polygon]  # 6 wall pieces: septal basal, mid, apical, lateral apical, mid, basal
    hinge_septal: np.ndarray  # mitral annulus, septal (or anterior) end
    hinge_lateral: np.ndarray
    apex: np.ndarray
    axis: np.ndarray  # unit vector from apex to base
    normal_septal: np.ndarray  # unit vector toward the septal side
    length: float
    endo_septal: np.ndarray  # (n, 2) base -> apex
    endo_lateral: np.ndarray


def lv_shape(heart: HeartParams, apex: np.ndarray, axis_angle: float, c: float, septal_left: bool = True,
             n: int = 28) -> LVShape:
    """The LV in one frame: cavity, six wall segments and mitral hinges.

    Args:
        apex: endocardial apex position (cm); the apex barely moves, the base descends toward it.
        axis_angle: direction from apex to base, radians from +x (pi/2 = straight down the screen).
        c: contraction state (0 ED .. 1 ES).
        septal_left: the septal side is the one to the left of the apex->base direction as seen on screen
            when True (A4C standard display, with the base below the apex: septum on the screen's left).
    """
    axis = np.array([np.cos(axis_angle), np.sin(axis_angle)])
    left = np.array([axis[1], -axis[0]])  # +90 deg counter-clockwise on screen (z down) of the axis
    # Screen-left of a downward axis is -x: the normal (az, -ax) gives (1*?, ...) -> choose explicitly.
    if left[0] > 0:
        left = -left
    nsep = left if septal_left else -left
    fs = heart.fractional_shortening
    kmean = float(np.mean(np.where(heart.infarcted, heart.hypokinesis, 1.0)))
    length = heart.lv_length * (1.0 - heart.long_shortening * c * kmean)
    x = 1.0 - (1.0 - np.linspace(0.0, 1.0, n)) ** 1.6  # denser toward the apex, where the contour curves
    x[-1] = 1.0
    prof = np.sqrt(np.clip(1.0 - x ** heart.apex_power, 0.0, 1.0)) * (1.0 - heart.base_narrowing * (1.0 - x) ** 3)
    endo, epi = {}, {}
    for side in (1, -1):
        k = _segment_factors(heart, x, side)
        hw = 0.5 * heart.lv_width * prof * (1.0 - fs * c * k)
        along = length * (1.0 - x)
        pts = apex + np.outer(along, axis) + np.outer(side * hw, nsep)
        # Outward normal from the contour tangent; at the apex it points away along -axis.
        tang = np.gradient(pts, axis=0)
        tang /= np.maximum(np.hypot(tang[:, 0], tang[:, 1]), 1e-9)[:, None]
        nout = np.stack([-tang[:, 1], tang[:, 0]], axis=-1)
        flip = (nout @ (side * nsep) + nout @ (-axis) * (x > 0.97)) < 0
        nout[flip] *= -1
        nout[-1] = -axis
        thick = heart.wall * (0.72 + 0.28 * (1.0 - x) ** 0.5) * (1.0 + heart.thickening * c * k)
        endo[side] = pts
        epi[side] = pts + nout * thick[:, None]
    cavity = np.concatenate([endo[1], endo[-1][::-1]], axis=0)
    segments = []
    for side, levels in ((1, (0, 1, 2)), (-1, (2, 1, 0))):
        for lv in levels:
            lo, hi = SEGMENT_X_EDGES[lv], SEGMENT_X_EDGES[lv + 1]
            sel = (x >= lo - 1e-9) & (x <= hi + 1e-9)
            idx = np.flatnonzero(sel)
            # Close the gap between consecutive segments by sharing the boundary samples.
            i0, i1 = max(idx[0] - 1, 0) if lo > 0 else 0, min(idx[-1] + 1, n - 1)
            e = endo[side][i0:i1 + 1]
            p = epi[side][i0:i1 + 1]
            if hi >= 1.0:  # apical segment: close across the apex with the other side's cap
                p = np.concatenate([p, (epi[side][-1:] + epi[-side][-1:]) / 2], axis=0)
            segments.append(np.concatenate([e, p[::-1]], axis=0))
    return LVShape(cavity=cavity, segments=segments, hinge_septal=endo[1][0], hinge_lateral=endo[-1][0],
                   apex=apex, axis=axis, normal_septal=nsep, length=length,
                   endo_septal=endo[1], endo_lateral=endo[-1])


def mitral_leaflets(hinge_a: np.ndarray, hinge_p: np.ndarray, axis: np.ndarray, opening: float) -> list[Polygon]:
    """Anterior (from ``hinge_a``) and posterior leaflets; ``axis`` points from apex to base (into the atrium).

    Closed, they meet slightly on the ventricular side of the annulus; open, they swing toward the apex.
    """
    w = float(np.hypot(*(hinge_p - hinge_a)))
    centre = (hinge_a + hinge_p) / 2 - axis * 0.12 * w
    out = []
    for hinge, length, sign in ((hinge_a, 0.62 * w, 1.0), (hinge_p, 0.45 * w, -1.0)):
        closed = np.arctan2(*(centre - hinge)[::-1])
        to_apex = np.arctan2(-axis[1], -axis[0])
        # Open leaflets lie nearly along the walls, tilted slightly toward the centre line.
        lateral = (hinge - (hinge_a + hinge_p) / 2)
        tilt = 0.25 if (-axis[0] * lateral[1] + axis[1] * lateral[0]) > 0 else -0.25
        open_ang = to_apex - tilt
        ang = closed + np.angle(np.exp(1j * (open_ang - closed))) * opening
        out.append(leaflet(hinge, ang, length * (0.92 + 0.08 * opening), curve=0.12 * sign, thick=0.09))
    return out


def semilunar_cusps(hinge_a: np.ndarray, hinge_b: np.ndarray, downstream: np.ndarray, opening: float) -> list[Polygon]:
    """Two cusps of an aortic / pulmonary valve seen in long axis; ``downstream`` is the flow direction."""
    w = float(np.hypot(*(hinge_b - hinge_a)))
    centre = (hinge_a + hinge_b) / 2 + downstream * 0.1 * w
    out = []
    for hinge in (hinge_a, hinge_b):
        closed = np.arctan2(*(centre - hinge)[::-1])
        open_ang = np.arctan2(downstream[1], downstream[0])
        ang = closed + np.angle(np.exp(1j * (open_ang - closed))) * opening
        out.append(leaflet(hinge, ang, 0.52 * w, curve=0.05, thick=0.07))
    return out


# --------------------------------------------------------------------------------------------- views


def _apical(heart: HeartParams, st: HeartState, kind: str, rng_shape: np.random.Generator) -> Scene:
    """A4C / A5C / A3C / A2C: apex at the top of the sector, the base and the atria at the bottom."""
    c, m, ao, at = st.contraction, st.mitral_open, st.aortic_open, st.atrial
    tilt = np.deg2rad(78.0)  # apex->base direction: down and slightly to the right
    lv_apex = np.array([0.3, 2.6])
    lv = lv_shape(heart, lv_apex, tilt, c, septal_left=True)
    base_c = (lv.hinge_septal + lv.hinge_lateral) / 2
    ax = lv.axis
    nsep = lv.normal_septal
    scene: Scene = []

    la_grow = 1.0 + 0.12 * at
    la_w, la_l = heart.la_width / 2 * la_grow, heart.la_length / 2 * (1.0 + 0.06 * at)
    has_right = kind in ("A4C", "A5C")
    la_c = base_c + ax * (la_l * 0.92) - nsep * (0.25 if has_right else 0.0)
    la_ang = np.arctan2(ax[1], ax[0]) - np.pi / 2
    if has_right:
        rv_len = heart.lv_length * heart.rv_length_ratio * (1.0 - 0.1 * c)
        rv_base = lv.hinge_septal + ax * 0.9 + nsep * (heart.wall + heart.rv_width * 0.5 * (1 - 0.18 * c))
        rv_apex = rv_base - ax * rv_len + nsep * 0.4
        rv_ang = np.arctan2(*(rv_base - rv_apex)[::-1])
        rv_hw = heart.rv_width * 0.5 * (1 - 0.2 * c)
        rv_cav = _bullet(rv_apex, rv_ang, rv_len, rv_hw, 1.7, 0.2)
        rv_epi = _bullet(rv_apex - (rv_base - rv_apex) / rv_len * heart.rv_wall, rv_ang, rv_len + heart.rv_wall,
                         rv_hw + heart.rv_wall, 1.7, 0.2)
        ra_w, ra_l = heart.ra_width / 2 * la_grow, heart.ra_length / 2 * (1.0 + 0.06 * at)
        ra_c = rv_base + ax * (ra_l * 0.9) + nsep * 0.15
        # keep an interatrial septum between the two atria
        gap = float((ra_c - la_c) @ nsep) - (ra_w + la_w + 0.4)
        if gap < 0:
            ra_c = ra_c - nsep * gap
    # Pericardium and epicardial tissue around everything: a smooth hull.
    hull_pts = [lv.segments[0], lv.segments[5], lv.segments[2], lv.segments[3],
                ellipse(*la_c, la_w + 0.3, la_l + 0.3, la_ang, 24)]
    if has_right:
        hull_pts += [rv_epi, ellipse(*ra_c, ra_w + 0.3, ra_l + 0.3, la_ang, 24)]
    hull = _hull(np.concatenate(hull_pts, axis=0))
    scene.append((10, _inflate(hull, heart.pericardium + 0.12)))
    scene.append((11, _inflate(hull, 0.1)))
    scene.append((11, ellipse(*la_c, la_w + 0.28, la_l + 0.3, la_ang, 48)))
    if has_right:
        scene.append((11, rv_epi))
        scene.append((11, ellipse(*ra_c, ra_w + 0.28, ra_l + 0.3, la_ang, 48)))
        scene.append((3, rv_cav))
        scene.append((5, ellipse(*ra_c, ra_w, ra_l, la_ang, 48)))
    scene.append((4, ellipse(*la_c, la_w, la_l, la_ang, 48)))

    # LV wall (segment codes in A4C) and cavity.
    for k, seg in enumerate(lv.segments):
        scene.append((SEGMENT_CODE_BASE + k + 1 if kind == "A4C" else 2, seg))
    scene.append((1, lv.cavity))

    # Papillary muscles: bumps on the walls, thick and prominent in systole.
    pm_r = heart.papillary * (0.55 + 0.6 * c)
    for endo, present in ((lv.endo_lateral, kind in ("A4C", "A5C", "A2C", "A3C")),
                          (lv.endo_septal, kind in ("A2C", "A3C"))):
        if not present:
            continue
        i = int(0.42 * len(endo))
        p = endo[i]
        inward = (base_c - ax * lv.length * 0.55) - p
        inward /= np.hypot(*inward)
        pm = ellipse(*(p + inward * pm_r * 0.55), pm_r * 0.55, pm_r * 1.25, np.arctan2(ax[1], ax[0]), 24)
        scene.append((8, pm))

    # Outflow tract in A5C / A3C: a channel from the base toward the aortic root.
    if kind in ("A5C", "A3C"):
        ao_r = heart.ao_root / 2
        if kind == "A5C":
            start = base_c + nsep * 0.55 - ax * 0.9
            root = base_c + ax * (1.6 + ao_r * 0.6) + nsep * 0.65
        else:
            # A3C: the aorta on the right, anteroseptal side of the screen
            start = lv.hinge_lateral * 0.6 + base_c * 0.4 - ax * 0.9
            root = lv.hinge_lateral + ax * (1.4 + ao_r) - nsep * (ao_r * 0.7)
        lvot_r = ao_r * (0.72 + 0.12 * ao)
        direction = (root - start) / np.hypot(*(root - start))
        path = np.stack([start, start + (root - start) * 0.45, root, root + direction * 2.5 + ax * 1.0])
        scene.append((11, tube(path, np.array([lvot_r, lvot_r, ao_r, ao_r * 0.9]) + 0.22)))
        scene.append((6, tube(path, np.array([lvot_r, lvot_r, ao_r, ao_r * 0.9]))))
        av_c = start + (root - start) * 0.5
        nrm = np.array([-direction[1], direction[0]])
        scene.extend((7, p) for p in semilunar_cusps(av_c + nrm * lvot_r, av_c - nrm * lvot_r, direction, ao))
        scene.append((1, lv.cavity))  # the LV cavity stays in front of the LVOT wall

    # Mitral (and tricuspid) valves, annuli.
    scene.extend((7, p) for p in mitral_leaflets(lv.hinge_septal, lv.hinge_lateral, ax, m))
    for h in (lv.hinge_septal, lv.hinge_lateral):
        scene.append((7, ellipse(*h, 0.18, 0.14, 0.0, 12)))
    if has_right:
        rv_base_c = rv_base
        rv_dir = (rv_base - rv_apex) / np.hypot(*(rv_base - rv_apex))
        rv_n = np.array([-rv_dir[1], rv_dir[0]])
        t_sep = rv_base_c - rv_n * rv_hw * 0.8 * np.sign(rv_n @ nsep)
        t_lat = rv_base_c + rv_n * rv_hw * 0.8 * np.sign(rv_n @ nsep)
        scene.extend((7, p) for p in mitral_leaflets(t_sep, t_lat, rv_dir, m))
        # moderator band: a bright band across the RV apex third
        mb0 = rv_apex + rv_dir * rv_len * 0.42
        scene.append((11, tube(np.stack([mb0 - rv_n * rv_hw * 0.85, mb0 + rv_n * rv_hw * 0.85]), 0.12, n=8)))
    return scene


def _bullet(apex: np.ndarray, ang: float, length: float, hw: float, power: float, narrow: float,
            n: int = 24) -> Polygon:
    """A closed bullet shape (like the LV cavity) from ``apex`` along direction ``ang``."""
    axis = np.array([np.cos(ang), np.sin(ang)])
    nrm = np.array([-axis[1], axis[0]])
    x = 1.0 - (1.0 - np.linspace(0, 1, n)) ** 1.5
    prof = np.sqrt(np.clip(1 - x ** power, 0, 1)) * (1 - narrow * (1 - x) ** 3)
    along = length * (1 - x)
    a = apex + np.outer(along, axis) + np.outer(hw * prof, nrm)
    b = apex + np.outer(along, axis) - np.outer(hw * prof, nrm)
    return np.concatenate([a, b[::-1]], axis=0)


def _hull(points: np.ndarray) -> Polygon:
    """Convex hull of (N, 2) points, counter-clockwise."""
    return points[ConvexHull(points).vertices]


def _inflate(poly: Polygon, d: float, n: int = 96) -> Polygon:
    """Grow a convex polygon by ``d`` cm (vertices pushed out from the centroid, then resampled)."""
    c = poly.mean(axis=0)
    seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(np.vstack([poly, poly[:1]]), axis=0).T))]
    s = np.linspace(0, seg[-1], n, endpoint=False)
    closed = np.vstack([poly, poly[:1]])
    p = np.stack([np.interp(s, seg, closed[:, 0]), np.interp(s, seg, closed[:, 1])], axis=-1)
    v = p - c
    r = np.hypot(v[:, 0], v[:, 1])[:, None]
    # smooth the outline a little so that the hull's straight edges look like a pericardial sac
    out = c + v * (r + d) / np.maximum(r, 1e-6)
    k = np.array([0.25, 0.5, 0.25])
    out = np.stack([np.convolve(np.r_[out[-1:, i], out[:, i], out[:1, i]], k, "valid") for i in range(2)], axis=-1)
    return out


def _plax(heart: HeartParams, st: HeartState, rng_shape: np.random.Generator) -> Scene:
    """Parasternal long axis: RV on top, septum, LV with apex to the left, aortic root and LA to the right."""
    c, m, ao, at = st.contraction, st.mitral_open, st.aortic_open, st.atrial
    scene: Scene = []
    # LV axis from apex (left, deeper) to the base (right): slightly rising to the right.
    ang = np.deg2rad(-8.0)
    base_centre = np.array([1.6, 9.2])
    apex = base_centre - np.array([np.cos(ang), np.sin(ang)]) * heart.lv_length
    lv = lv_shape(heart, apex, ang, c, septal_left=False)
    # septal side must be the top: normal_septal has negative z
    if lv.normal_septal[1] > 0:
        lv = lv_shape(heart, apex, ang, c, septal_left=True)
    ax, nsep = lv.axis, lv.normal_septal
    hs, hp = lv.hinge_septal, lv.hinge_lateral  # anterior (top) and posterior mitral hinges
    ao_r = heart.ao_root / 2 * (1.0 + 0.05 * ao)
    # Aortic root: continues the septum to the right; its posterior wall holds the anterior mitral leaflet.
    av = hs + nsep * (ao_r * 0.55) + ax * 0.5
    root = av + np.array([2.6, -0.55])
    asc = root + np.array([2.6, -0.4])
    la_c = hp + ax * (heart.la_length * 0.42) + nsep * 0.35
    la_r = heart.la_width / 2 * (1 + 0.1 * at)
    rv_top = heart.rv_width * 0.85 * (1 - 0.12 * c)
    # RV: a long band above the septum, from beyond the apex to the RVOT above the aortic root.
    sep_epi = lv.endo_septal + nsep * heart.wall * (1 + heart.thickening * c)
    rv_lo = sep_epi[::3]
    rv_path_top = rv_lo + nsep * rv_top
    rv_poly = np.concatenate([rv_lo, (av + nsep * (ao_r + 0.25))[None], (root + nsep * (ao_r + 0.3))[None],
                              (root + nsep * (ao_r + 0.3 + rv_top * 0.9))[None], rv_path_top[::-1]], axis=0)
    rv_wall = np.concatenate([rv_lo, (root + nsep * (ao_r + 0.3))[None],
                              (root + nsep * (ao_r + 0.3 + rv_top * 0.9 + heart.rv_wall))[None],
                              (rv_path_top + nsep * heart.rv_wall)[::-1]], axis=0)
    hull = _hull(np.concatenate([*lv.segments, ellipse(*la_c, la_r + 0.3, la_r + 0.3, 0, 24), rv_wall], axis=0))
    scene.append((15, np.array([[-20, 0.0], [20, 0.0], [20, rv_path_top[:, 1].min() - heart.rv_wall - 0.2],
                                [-20, rv_path_top[:, 1].min() - heart.rv_wall - 0.2]])))
    scene.append((10, _inflate(hull, heart.pericardium + 0.15)))
    scene.append((11, _inflate(hull, 0.08)))
    scene.append((11, rv_wall))
    scene.append((12, rv_poly))
    scene.append((11, ellipse(*la_c, la_r + 0.25, la_r * 0.95 + 0.25, 0.1, 48)))
    scene.append((4, ellipse(*la_c, la_r, la_r * 0.95, 0.1, 48)))
    for seg in lv.segments:
        scene.append((2, seg))
    scene.append((1, lv.cavity))
    path = np.stack([hs - ax * 1.2 + nsep * 0.3, av, root, asc])
    radii = np.array([ao_r * 0.7, ao_r * 0.78, ao_r, ao_r * 0.9])
    scene.append((11, tube(path[1:], radii[1:] + 0.25)))
    scene.append((6, tube(path, radii)))
    scene.append((1, lv.cavity[len(lv.cavity) // 2:]))  # keep the posterior part of the LV in front
    # descending aorta behind the LA, in cross-section
    scene.append((13, ellipse(*(hp + ax * 0.6 + np.array([0.0, 2.9])), 1.3, 1.1, 0, 32)))
    scene.append((14, ellipse(*(hp + ax * 0.6 + np.array([0.0, 2.9])), 1.0, 0.85, 0, 32)))
    nav = np.array([-(root - av)[1], (root - av)[0]]) / np.hypot(*(root - av))
    scene.extend((7, p) for p in semilunar_cusps(av + nav * ao_r * 0.8, av - nav * ao_r * 0.8,
                                                 (root - av) / np.hypot(*(root - av)), ao))
    amh = av - nsep * ao_r * 0.8  # aorto-mitral continuity: the anterior leaflet hangs from here
    scene.extend((7, p) for p in mitral_leaflets(amh, hp, ax, m))
    return scene


def _psax(heart: HeartParams, st: HeartState, level: str, rng_shape: np.random.Generator) -> Scene:
    """Parasternal short axis at the great vessels, mitral, papillary or apical level."""
    c, m, _ao, _at = st.contraction, st.mitral_open, st.aortic_open, st.atrial
    scene: Scene = []
    fs = heart.fractional_shortening
    centre = np.array([0.3, 8.6])
    if level == "ves":
        return _psax_vessels(heart, st, centre)
    scale = {"base": 1.05, "mid": 1.0, "apical": 0.62}[level]
    r_endo = 0.5 * heart.lv_width * scale * (1 - fs * c * (1.15 if level == "apical" else 1.0))
    wall = heart.wall * (0.9 if level == "apical" else 1.0) * (1 + heart.thickening * c)
    r_epi = r_endo + wall
    ecc = 0.95  # slightly flattened septum
    rv_r = heart.rv_width * 0.55 * scale * (1 - 0.15 * c) * (0.7 if level == "apical" else 1.0)
    # RV: crescent anterior (top) and to the left, wrapping the septum
    rv_c = centre + np.array([-r_epi * 0.45, -r_epi * 0.55])
    rv_outer = ellipse(*rv_c, r_epi * 1.05 + rv_r * 0.5, r_epi * 0.55 + rv_r, np.deg2rad(-25), 64)
    rv_wall_poly = ellipse(*rv_c, r_epi * 1.05 + rv_r * 0.5 + heart.rv_wall, r_epi * 0.55 + rv_r + heart.rv_wall,
                           np.deg2rad(-25), 64)
    lv_epi = ellipse(*centre, r_epi, r_epi * ecc, 0.0, 72)
    hull = _hull(np.concatenate([lv_epi, rv_wall_poly]))
    scene.append((15, np.array([[-20, 0.0], [20, 0.0], [20, 2.2], [-20, 2.2]])))
    scene.append((10, _inflate(hull, heart.pericardium + 0.1)))
    scene.append((11, _inflate(hull, 0.05)))
    scene.append((11, rv_wall_poly))
    scene.append((3, rv_outer))
    scene.append((2, lv_epi))
    scene.append((1, ellipse(*centre, r_endo, r_endo * ecc, 0.0, 72)))
    if level == "mid":
        # anterolateral (~4 o'clock) and posteromedial (~8 o'clock) papillary muscles, prominent in systole
        pm_r = heart.papillary * (0.6 + 0.7 * c)
        for clock in (4.0, 7.6):
            a = np.deg2rad(90 - clock * 30)
            d = np.array([np.cos(a), -np.sin(a)])
            p = centre + d * (r_endo - pm_r * 0.5)
            scene.append((8, ellipse(*p, pm_r * 0.8, pm_r, a, 24)))
    if level == "base":
        # fish mouth: anterior and posterior leaflets as arcs; the orifice opens in diastole
        mouth_w = r_endo * 1.5
        gap = r_endo * 0.55 * m
        t = np.linspace(-1, 1, 16)
        for sign, sag in ((-1, 0.18), (1, 0.12)):
            z = centre[1] + sign * (0.05 + gap) * np.sqrt(1 - t ** 2) + sign * sag * (1 - t ** 2) * 0
            x = centre[0] + t * mouth_w * 0.5
            scene.append((7, tube(np.stack([x, z], axis=-1), 0.09, n=20)))
    return scene


def _psax_vessels(heart: HeartParams, st: HeartState, centre: np.ndarray) -> Scene:
    """PSAX at the aortic valve: three cusps in the middle, RA left, LA below, RVOT / PA over the top."""
    c, ao, at, m = st.contraction, st.aortic_open, st.atrial, st.mitral_open
    scene: Scene = []
    r = heart.ao_root / 2 * (1 + 0.04 * ao)
    la_c = centre + np.array([0.3, r + heart.la_width * 0.5])
    ra_c = centre + np.array([-r - heart.ra_width * 0.45, r * 0.7])
    la_r = heart.la_width / 2 * (1 + 0.1 * at)
    ra_r = heart.ra_width / 2 * (1 + 0.1 * at)
    # RVOT arc from the tricuspid valve (left) over the aorta to the pulmonary valve (right), then the PA down
    a = np.deg2rad(np.linspace(200, 345, 14))
    rvot_path = centre + np.stack([np.cos(a), np.sin(a)], axis=-1) * (r + 1.25)
    pv = rvot_path[-1]
    pa_path = np.stack([pv, pv + np.array([0.9, 1.4]), pv + np.array([1.3, 3.2])])
    rvot_r = heart.pa_diam / 2 * (1 - 0.1 * c)
    all_pts = np.concatenate([ellipse(*la_c, la_r + 0.3, la_r + 0.3), ellipse(*ra_c, ra_r + 0.3, ra_r + 0.3),
                              tube(rvot_path, rvot_r + 0.4), tube(pa_path, heart.pa_diam / 2 + 0.3)])
    hull = _hull(all_pts)
    scene.append((15, np.array([[-20, 0.0], [20, 0.0], [20, 2.2], [-20, 2.2]])))
    scene.append((10, _inflate(hull, heart.pericardium + 0.1)))
    scene.append((11, _inflate(hull, 0.05)))
    scene.append((11, ellipse(*la_c, la_r + 0.25, la_r + 0.25)))
    scene.append((11, ellipse(*ra_c, ra_r + 0.25, ra_r * 1.1 + 0.25)))
    scene.append((4, ellipse(*la_c, la_r, la_r * 0.9)))
    scene.append((5, ellipse(*ra_c, ra_r, ra_r * 1.1)))
    scene.append((11, tube(rvot_path, rvot_r + 0.3)))
    scene.append((12, tube(rvot_path, rvot_r)))
    scene.append((13, tube(pa_path, heart.pa_diam / 2 + 0.2, n=16)))
    scene.append((12, tube(pa_path, heart.pa_diam / 2, n=16)))
    scene.append((11, ellipse(*centre, r + 0.3, r + 0.3)))
    scene.append((6, ellipse(*centre, r, r)))
    # three cusps: closed = "Mercedes" Y; open = cusps pushed to the wall (triangular orifice)
    for k in range(3):
        ang = np.deg2rad(90 + 120 * k)
        d = np.array([np.cos(ang), np.sin(ang)])
        hinge = centre + d * r
        if ao < 0.5:
            # closed: commissure lines from the wall to the centre
            scene.append((7, tube(np.stack([hinge, centre]), 0.08 * (1 - ao), n=8)))
        else:
            mid_a = ang + np.deg2rad(60)
            d2 = np.array([np.cos(mid_a), np.sin(mid_a)])
            tip = centre + d2 * r * (0.95 - 0.35 * (1 - ao))
            scene.append((7, tube(np.stack([hinge, tip, centre + np.array([np.cos(ang + 2.09),
                                                                          np.sin(ang + 2.09)]) * r]), 0.07, n=10)))
    # tricuspid leaflets (left) and pulmonary valve (right)
    tv = rvot_path[0]
    scene.extend((7, p) for p in mitral_leaflets(tv + np.array([0, -0.8]), tv + np.array([0.0, 0.8]),
                                                 np.array([-1.0, 0.0]), m))
    pdir = (pa_path[1] - pa_path[0]) / np.hypot(*(pa_path[1] - pa_path[0]))
    pn = np.array([-pdir[1], pdir[0]])
    scene.extend((7, p) for p in semilunar_cusps(pv + pn * heart.pa_diam * 0.45, pv - pn * heart.pa_diam * 0.45,
                                                 pdir, ao))
    return scene


def _suprasternal(heart: HeartParams, st: HeartState, rng_shape: np.random.Generator) -> Scene:
    """Suprasternal notch: the aortic arch with its three branches, the right PA below the arch."""
    ao = st.aortic_open
    scene: Scene = []
    R = heart.arch_radius
    centre = np.array([0.2, 4.2 + R])
    rad = heart.ao_root / 2 * 0.85 * (1 + 0.06 * ao)
    t = np.deg2rad(np.linspace(200, 340, 24))
    arch = centre + np.stack([np.cos(t) * R * 1.15, np.sin(t) * R], axis=-1)
    asc = np.stack([arch[0] + np.array([-0.4, 3.0]), arch[0]])
    desc = np.stack([arch[-1], arch[-1] + np.array([0.6, 4.5])])
    full = np.concatenate([asc[:-1], arch, desc[1:]])
    scene.append((11, np.array([[-20, 0.0], [20, 0.0], [20, 1.6], [-20, 1.6]])))
    for k, frac in enumerate((0.28, 0.45, 0.62)):
        i = int(frac * (len(arch) - 1))
        p = arch[i]
        tip = p + np.array([(-0.6 + 0.4 * k), -R * 0.9])
        scene.append((13, tube(np.stack([p, p + (tip - p) * 0.5, tip]), 0.45 - 0.05 * k, n=14)))
    scene.append((13, tube(full, rad + 0.25, n=64)))
    scene.append((6, tube(full, rad, n=64)))
    # right pulmonary artery in cross-section under the arch, LA deeper
    rpa = centre + np.array([0.0, R * 0.05])
    scene.append((13, ellipse(*rpa, 1.1, 0.9)))
    scene.append((12, ellipse(*rpa, 0.9, 0.7)))
    scene.append((11, ellipse(*(rpa + np.array([0.2, 2.6])), 2.2, 1.5)))
    scene.append((4, ellipse(*(rpa + np.array([0.2, 2.6])), 1.9, 1.2)))
    return scene


def _subcostal(heart: HeartParams, st: HeartState, rng_shape: np.random.Generator) -> Scene:
    """Subcostal 4-chamber: liver in the near field, the heart lying horizontally (apex to the right)."""
    four = _apical(heart, st, "A4C", rng_shape)
    # Rotate the A4C heart so that the apex points right and the RV lies on top, next to the liver.
    pivot = np.array([0.3, 7.0])
    rot = -np.pi / 2 + np.deg2rad(22.0)
    moved = [(2 if SEGMENT_CODE_BASE < code else code, _rot(p - pivot, rot) * 0.95 + np.array([-0.8, 11.5]))
             for code, p in four]
    top = min(float(p[:, 1].min()) for code, p in moved if code == 10)
    t = np.linspace(-1, 1, 40)
    diaphragm_z = top - 0.6 + 1.5 * t ** 2
    x = t * 14.0
    liver = np.concatenate([np.stack([x, diaphragm_z], axis=-1), np.array([[14.0, 1.2], [-14.0, 1.2]])])
    diaphragm = np.stack([x, diaphragm_z + 0.25], axis=-1)
    scene: Scene = [(15, np.array([[-20, 0.0], [20, 0.0], [20, 1.3], [-20, 1.3]]))]
    scene.append((9, liver))
    scene.append((16, tube(diaphragm, 0.3, n=60)))
    scene.extend(moved)
    return scene


VIEW_BUILDERS: dict[str, Callable[..., Scene]] = {
    "PLAX": _plax,
    "PSAX-ves": lambda h, s, r: _psax(h, s, "ves", r),
    "PSAX-base": lambda h, s, r: _psax(h, s, "base", r),
    "PSAX-mid": lambda h, s, r: _psax(h, s, "mid", r),
    "PSAX-apical": lambda h, s, r: _psax(h, s, "apical", r),
    "A2C": lambda h, s, r: _apical(h, s, "A2C", r),
    "A3C": lambda h, s, r: _apical(h, s, "A3C", r),
    "A4C": lambda h, s, r: _apical(h, s, "A4C", r),
    "A5C": lambda h, s, r: _apical(h, s, "A5C", r),
    "Suprasternal": _suprasternal,
    "Subcostal": _subcostal,
}


def build_scene(view: str, heart: HeartParams, state: HeartState, pose: tuple[float, float, float, float],
                rng_shape: np.random.Generator | None = None) -> Scene:
    """The ordered polygons of one frame of ``view`` (a :data:`echo_monai.views.VIEW_NAMES` entry).

    Args:
        pose: ``(rotation_rad, dx_cm, dz_cm, scale)`` applied about the point (0, 8) cm, per clip.
    """
    if view not in VIEW_BUILDERS:
        raise ValueError(f"unknown view {view!r}; expected one of {tuple(VIEW_BUILDERS)}")
    scene = VIEW_BUILDERS[view](heart, state, rng_shape or np.random.default_rng(0))
    rot, dx, dz, scale = pose
    pivot = np.array([0.0, 8.0])
    out: Scene = []
    for code, poly in scene:
        if code in (15,):  # chest wall bands stay attached to the transducer
            out.append((code, poly))
            continue
        out.append((code, _rot(poly - pivot, rot) * scale + pivot + np.array([dx, dz])))
    return out
