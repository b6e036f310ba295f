"""Physical heart anatomy of the 11 views, as polygons in cm that deform over the cardiac cycle.

A scene is an ordered list of ``(code, polygon)`` drawn painter-style (later items cover earlier ones).
Polygons are (N, 2) arrays of ``(x, z)`` in cm in the imaging plane: ``x`` to the right of the screen,
``z`` depth below the transducer (the sector apex is at the origin). Codes are :data:`ANATOMY_LABELS` ids;
the six A4C LV wall segments are drawn with codes ``SEGMENT_CODE_BASE + 1 .. + 6`` so that one raster
gives both the anatomy and the HMC-QU segment map.

Proportions follow adult reference values (ASE chamber quantification): LV length ~8-9 cm and width
~4.5-5 cm at end-diastole, walls ~0.9-1.1 cm, LA ~4 cm, aortic root ~3 cm, EF 55-65 % with 30-50 % wall
thickening. Every patient draws its own sizes, shapes and wall thickness (:class:`HeartParams`; about 12 %
have a dilated, poorly contracting LV and 10 % thick walls), and every clip its own pose (rotation, offset)
and plane (outflow share, short-axis level), so that no single fixed cue gives a view away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial import ConvexHull

__all__ = [
    "ANATOMY_LABELS",
    "BLOOD_LABELS",
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

#: Anatomy labels of blood pools (dark, with speckle that decorrelates from frame to frame).
BLOOD_LABELS: tuple[int, ...] = (1, 3, 4, 5, 6, 12, 14)

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
    atrial_wall: float = 0.2
    infarcted: np.ndarray = field(default_factory=lambda: np.zeros(6, dtype=bool))
    hypokinesis: float = 0.3  # motion of an infarcted segment as a fraction of normal
    # per-clip imaging-plane variation (drawn by the generator, not per patient)
    outflow: float = 1.0  # share of the LVOT / aortic root that the A5C / A3C plane catches
    level_scale: float = 1.0  # PSAX ring size relative to the nominal level (the plane's exact level)

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
    heart = HeartParams(
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
        atrial_wall=float(rng.uniform(0.14, 0.24)),
        infarcted=infarcted,
        hypokinesis=float(rng.uniform(0.15, 0.35)),
    )
    # some patients are not normal: a dilated, poorly contracting LV, or a thick-walled (hypertrophied) one
    kind = rng.random()
    if kind < 0.12:
        heart = replace(heart, lv_length=heart.lv_length * 1.12, lv_width=heart.lv_width * 1.22,
                        ef=float(rng.uniform(0.25, 0.42)), wall=heart.wall * 0.9,
                        thickening=float(rng.uniform(0.15, 0.3)), la_width=heart.la_width * 1.15)
    elif kind < 0.22:
        heart = replace(heart, wall=float(rng.uniform(1.3, 1.7)), ef=float(rng.uniform(0.6, 0.72)))
    return heart


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
    # square ends are enough: vessels leave the sector or join a chamber, leaflets are thin
    return np.concatenate([left, right[::-1]], axis=0)


def leaflet(hinge: np.ndarray, direction: float, length: float, curve: float = 0.15, thick: float = 0.1) -> Polygon:
    """A thin curved valve leaflet from ``hinge`` pointing at angle ``direction`` (radians from +x)."""
    d = np.array([np.cos(direction), np.sin(direction)])
    n = np.array([-d[1], d[0]])
    s = np.linspace(0.0, 1.0, 6)
    pts = hinge + np.outer(s * length, d) + np.outer(curve * length * np.sin(np.pi * s), n)
    r = thick * (1.0 - 0.4 * s)
    return tube(pts, r, n=10)


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
    epi_septal: np.ndarray  # (n, 2) base -> apex
    epi_lateral: np.ndarray


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
                   endo_septal=endo[1], endo_lateral=endo[-1], epi_septal=epi[1], epi_lateral=epi[-1])


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


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 16) -> np.ndarray:
    """Quadratic Bezier curve from ``p0`` to ``p2`` pulled toward ``p1``, (n, 2)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _angle(v: np.ndarray) -> float:
    return float(np.arctan2(v[1], v[0]))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(v[0], v[1])), 1e-9)


def _atrium(annulus_a: np.ndarray, annulus_b: np.ndarray, away: np.ndarray, length: float, half_width: float,
            wall: float, shift: np.ndarray | None = None) -> tuple[Polygon, Polygon, np.ndarray]:
    """An atrium hanging from its valve annulus (``annulus_a``..``annulus_b``) in direction ``away``.

    Returns the wall polygon, the cavity polygon and the roof point. The cavity's open end is exactly the
    annulus, so the valve hinges sit on the atrial walls.
    """
    base = (annulus_a + annulus_b) / 2
    ann_hw = float(np.hypot(*(annulus_b - annulus_a))) / 2
    roof = base + away * length + (shift if shift is not None else 0.0)
    ang = _angle(base - roof)
    narrow = float(np.clip(1.0 - ann_hw / half_width, 0.0, 0.6))
    cav = _bullet(roof, ang, length, half_width, 2.2, narrow)
    outer = _bullet(roof - _unit(base - roof) * wall, ang, length + wall, half_width + wall, 2.2, narrow)
    return outer, cav, roof


def _apical(heart: HeartParams, st: HeartState, kind: str) -> Scene:
    """A4C / A5C / A3C / A2C: apex at the top of the sector, the base and the atria at the bottom.

    Standard display: in A4C the septum and the right heart are on the screen's left, the LV on the right;
    in A3C the outflow tract and aorta leave the base on the right.
    """
    c, m, ao, at = st.contraction, st.mitral_open, st.aortic_open, st.atrial
    tilt = np.deg2rad(80.0)  # apex->base direction: down and slightly to the right
    lv = lv_shape(heart, np.array([0.5, 2.4]), tilt, c, septal_left=True)
    ax, nsep = lv.axis, lv.normal_septal
    hs, hl = lv.hinge_septal, lv.hinge_lateral
    base_c = (hs + hl) / 2
    has_right = kind in ("A4C", "A5C")
    scene: Scene = []

    la_len = heart.la_length * (1.0 + 0.1 * at)
    la_hw = heart.la_width / 2 * (1.0 + 0.1 * at)
    la_shift = {"A4C": -0.3, "A5C": -0.5, "A3C": 0.5, "A2C": 0.0}[kind] * nsep
    la_wall, la_cav, la_roof = _atrium(hs, hl, ax, la_len, la_hw, heart.atrial_wall, la_shift)
    walls = [*lv.segments, la_wall]

    if has_right:
        # RV: its septal border is the LV septum; the free wall bulges out to the tricuspid annulus, which
        # sits a little more apical than the mitral one and moves toward the apex in systole (TAPSE).
        epi = lv.epi_septal
        n = len(epi)
        xs = np.linspace(0.0, 1.0, n)
        i_t = int(np.searchsorted(xs, 0.07))
        i_apex = int(np.searchsorted(xs, heart.rv_length_ratio * 0.9))
        septal_border = epi[i_t:i_apex + 1]
        rv_apex = septal_border[-1]
        t_sep = septal_border[0]
        rv_w = heart.rv_width * (1.0 - 0.18 * c)
        t_lat = t_sep + nsep * rv_w * 0.9 + ax * 0.35 - ax * 1.7 * c * 0.6
        bulge = nsep * rv_w * 0.55
        free = _bezier(rv_apex, (rv_apex + t_lat) / 2 + bulge, t_lat, 20)
        rv_cav = np.concatenate([septal_border, free[1:]], axis=0)
        # free wall thickness pushed outward along the local normal of the curve
        tang = np.gradient(free, axis=0)
        nrm = np.stack([-tang[:, 1], tang[:, 0]], axis=-1)
        nrm /= np.maximum(np.hypot(nrm[:, 0], nrm[:, 1]), 1e-9)[:, None]
        nrm *= np.sign(float(np.mean(nrm @ nsep)))
        rv_outer = np.concatenate([septal_border, free[1:] + nrm[1:] * heart.rv_wall], axis=0)
        rv_dir = _unit((t_sep + t_lat) / 2 - rv_apex)
        ra_len = heart.ra_length * (1.0 + 0.1 * at)
        ra_hw = heart.ra_width / 2 * (1.0 + 0.1 * at)
        ra_wall, ra_cav, ra_roof = _atrium(t_sep, t_lat, rv_dir, ra_len, ra_hw, heart.atrial_wall, 0.2 * nsep)
        walls += [rv_outer, ra_wall]

    scene.extend(_pericardium(_hull(np.concatenate(walls, axis=0)), heart))
    scene.append((11, la_wall))
    if has_right:
        scene.append((11, ra_wall))
        scene.append((11, rv_outer))
        scene.append((5, ra_cav))
    scene.append((4, la_cav))
    if has_right:
        scene.append((3, rv_cav))
        # interatrial septum from the crux toward the roofs (thin; it often drops out in this view)
        crux = (hs + t_sep) / 2
        roof_mid = (la_roof + ra_roof) / 2
        scene.append((11, tube(np.stack([crux, crux + (roof_mid - crux) * 0.9]), heart.atrial_wall * 0.55, n=12)))
        # moderator band across the apical third of the RV
        j = int(0.62 * (len(septal_border) - 1))
        k = int(0.35 * (len(free) - 1))
        scene.append((11, tube(np.stack([septal_border[j], free[k]]), 0.12, n=8)))

    # LV wall (segment codes in A4C) and cavity.
    for k_seg, seg in enumerate(lv.segments):
        scene.append((SEGMENT_CODE_BASE + k_seg + 1 if kind == "A4C" else 2, seg))
    scene.append((1, lv.cavity))

    # Papillary muscles: bumps on the walls, thick and prominent in systole.
    pm_r = heart.papillary * (0.5 + 0.6 * c)
    papillary: Scene = []
    for endo, present in ((lv.endo_lateral, True), (lv.endo_septal, kind in ("A2C", "A3C"))):
        if not present:
            continue
        p = endo[int(0.42 * len(endo))]
        inward = _unit((base_c - ax * lv.length * 0.55) - p)
        pm = ellipse(*(p + inward * pm_r * 0.5), pm_r * 0.5, pm_r * 1.3, _angle(ax), 24)
        papillary.append((8, pm))
    scene.extend(papillary)

    # Outflow tract in A5C / A3C: a channel from the base to the aortic root, with the aortic cusps.
    if kind in ("A5C", "A3C"):
        ao_r = heart.ao_root / 2
        ann_hw = float(np.hypot(*(hl - hs))) / 2
        if kind == "A5C":
            start = base_c + nsep * ann_hw * 0.55 - ax * 1.1
            av = base_c + nsep * ann_hw * 0.6 + ax * 0.5
            root = av + ax * ao_r * 1.1 + nsep * 0.2
            distal = root + ax * 2.6 + nsep * 0.5
        else:
            start = base_c - nsep * ann_hw * 0.5 - ax * 1.1
            av = hl - nsep * ao_r * 0.6 + ax * 0.5
            root = av + ax * ao_r * 0.9 - nsep * ao_r * 0.7
            distal = root + ax * 1.6 - nsep * 2.2
        # how much of the outflow tract the plane catches varies from clip to clip; the anterior mitral
        # leaflet narrows the LVOT in diastole, so the outflow is clearest in systole
        lvot_r = ao_r * heart.outflow * (0.5 + 0.3 * ao)
        ao_r = ao_r * (0.6 + 0.4 * heart.outflow)
        path = np.stack([start, av, root, distal])
        radii = np.array([lvot_r, lvot_r * 1.05, ao_r, ao_r * 0.9])
        scene.append((11, tube(path[1:], radii[1:] + 0.22)))
        scene.append((6, tube(path, radii)))
        d = _unit(root - av)
        nrm = np.array([-d[1], d[0]])
        scene.extend((7, p) for p in semilunar_cusps(av + nrm * lvot_r, av - nrm * lvot_r, d, ao))
        scene.append((1, lv.cavity))  # the LV cavity stays in front of the LVOT's wall
        # ... and the papillary muscles in front of the cavity: redrawing the cavity painted them over, so
        # "papillary muscle in the LV" told A4C from A5C/A3C (seen in the saliency maps)
        scene.extend(papillary)

    # Mitral and tricuspid valves with their annuli.
    scene.extend((7, p) for p in mitral_leaflets(hs, hl, ax, m))
    for h in (hs, hl):
        scene.append((7, ellipse(*h, 0.2, 0.15, _angle(ax), 12)))
    if has_right:
        scene.extend((7, p) for p in mitral_leaflets(t_sep, t_lat, rv_dir, m))
        scene.append((7, ellipse(*t_lat, 0.18, 0.14, _angle(ax), 12)))
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


def _pericardium(hull: Polygon, heart: HeartParams) -> Scene:
    """The pericardial sac around the heart's hull: a bright band, thicker and brighter on the deep side
    (posterior pericardium and AV groove fat), with unlabelled epicardial tissue inside."""
    z = hull[:, 1]
    depth = np.clip((z - z.min()) / max(float(np.ptp(z)), 1e-6), 0, 1)
    outer = _inflate(hull, heart.pericardium * (0.1 + 1.8 * depth ** 2) + 0.06)
    return [(10, outer), (0, _inflate(hull, 0.04))]


def _inflate(poly: Polygon, d: float | np.ndarray, n: int = 96) -> Polygon:
    """Grow a convex polygon by ``d`` cm (scalar or per vertex of ``poly``; vertices pushed out from the
    centroid, then resampled)."""
    c = poly.mean(axis=0)
    seg = np.r_[0.0, np.cumsum(np.hypot(*np.diff(np.vstack([poly, poly[:1]]), axis=0).T))]
    s = np.linspace(0, seg[-1], n, endpoint=False)
    closed = np.vstack([poly, poly[:1]])
    p = np.stack([np.interp(s, seg, closed[:, 0]), np.interp(s, seg, closed[:, 1])], axis=-1)
    if np.ndim(d):
        d = np.interp(s, seg, np.r_[d, d[:1]])
    v = p - c
    r = np.hypot(v[:, 0], v[:, 1])[:, None]
    # smooth the outline a little so that the hull's straight edges look like a pericardial sac
    out = c + v * (r + np.reshape(d, (-1, 1))) / np.maximum(r, 1e-6)
    k = np.array([0.25, 0.5, 0.25])
    out = np.stack([np.convolve(np.r_[out[-1:, i], out[:, i], out[:1, i]], k, "valid") for i in range(2)], axis=-1)
    return out


def _plax(heart: HeartParams, st: HeartState) -> Scene:
    """Parasternal long axis: chest wall, RV (RVOT) on top, septum, LV with its apex to the left, the aortic
    root continuing the septum to the right, the LA below the root, the descending aorta behind the LA."""
    c, m, ao, at = st.contraction, st.mitral_open, st.aortic_open, st.atrial
    scene: Scene = []
    # The parasternal plane misses the true apex: the LV looks longer, with near-parallel walls, and its
    # apex usually lies outside the sector on the left.
    heart = replace(heart, lv_length=heart.lv_length * 1.3, apex_power=heart.apex_power + 1.2)
    base_centre = np.array([1.0, 6.6])
    ang = np.deg2rad(-14.0)  # apex (left, deeper) -> base (right, nearer the transducer)
    apex = base_centre - np.array([np.cos(ang), np.sin(ang)]) * heart.lv_length
    lv = lv_shape(heart, apex, ang, c, septal_left=True)
    if lv.normal_septal[1] > 0:  # the septum must be on top (toward the transducer)
        lv = lv_shape(heart, apex, ang, c, septal_left=False)
    ax, nsep = lv.axis, lv.normal_septal
    hp = lv.hinge_lateral  # posterior mitral hinge
    ao_r = heart.ao_root / 2 * (1.0 + 0.04 * ao)
    ann_r = ao_r * 0.75
    # aortic valve just right of the LVOT, the root and ascending aorta rising slightly to the right
    av = lv.hinge_septal + ax * 0.35 + nsep * 0.15
    root = av + _unit(ax + 0.15 * nsep) * 1.5
    asc = root + _unit(ax + 0.2 * nsep) * 2.4
    aml_hinge = av - nsep * ann_r  # aorto-mitral continuity
    # LA: from the mitral annulus (anterior leaflet hinge .. posterior hinge) toward the right
    la_wall, la_cav, _ = _atrium(aml_hinge, hp, _unit(ax + np.array([0.0, 0.25])), heart.la_length * 0.9 * (1 + 0.08 * at),
                                 heart.la_width / 2 * (1 + 0.1 * at), heart.atrial_wall)
    # RV: a band over the septum that continues as the RVOT over the aortic root
    sep_epi = lv.epi_septal[::-1][::2]  # apex -> base
    sep_epi = sep_epi[sep_epi[:, 0] > apex[0] + 1.0]
    rv_h = heart.rv_width * 0.7 * (1 - 0.15 * c)
    up = nsep
    rv_low = np.concatenate([sep_epi, (root + up * (ao_r + 0.25))[None], (asc + up * (ao_r * 0.9 + 0.25))[None]])
    rv_top = rv_low + up * rv_h
    rv_cav = np.concatenate([rv_low, rv_top[::-1]])
    rv_wall = np.concatenate([rv_low, (rv_top + up * heart.rv_wall)[::-1]])
    hull = _hull(np.concatenate([*lv.segments, la_wall, rv_wall, tube(np.stack([av, root, asc]), ao_r + 0.3)]))
    # chest wall down to the RV free wall (the RVOT end of the band rises out of the sector)
    chest = max(0.8, float(np.percentile(rv_top[:, 1], 30)) - heart.rv_wall - 0.15)
    scene.append((15, np.array([[-20, 0.02], [20, 0.02], [20, chest], [-20, chest]])))
    scene.extend(_pericardium(hull, heart))
    scene.append((11, rv_wall))
    scene.append((12, rv_cav))
    scene.append((11, la_wall))
    scene.append((4, la_cav))
    for seg in lv.segments:
        scene.append((2, seg))
    scene.append((1, lv.cavity))
    # aortic root: wall, then lumen from the LVOT through the sinuses to the ascending aorta
    path = np.stack([lv.hinge_septal - ax * 1.0 - nsep * 0.6, av, root, asc])
    radii = np.array([ann_r * 0.9, ann_r, ao_r, ao_r * 0.9])
    scene.append((11, tube(path[1:], radii[1:] + 0.25)))
    scene.append((6, tube(path, radii)))
    # descending aorta in cross-section behind the LA / AV groove
    da = hp + np.array([0.8, 2.3])
    scene.append((13, ellipse(*da, 1.15, 1.0, 0, 32)))
    scene.append((14, ellipse(*da, 0.9, 0.78, 0, 32)))
    d = _unit(root - av)
    nav = np.array([-d[1], d[0]])
    scene.extend((7, p) for p in semilunar_cusps(av + nav * ann_r, av - nav * ann_r, d, ao))
    scene.extend((7, p) for p in mitral_leaflets(aml_hinge, hp, ax, m))
    scene.append((7, ellipse(*hp, 0.2, 0.15, 0.0, 12)))
    return scene


def _psax(heart: HeartParams, st: HeartState, level: str) -> Scene:
    """Parasternal short axis at the great vessels, mitral, papillary or apical level."""
    c, m, _ao, _at = st.contraction, st.mitral_open, st.aortic_open, st.atrial
    scene: Scene = []
    fs = heart.fractional_shortening
    centre = np.array([0.3, 8.6])
    if level == "ves":
        return _psax_vessels(heart, st, centre)
    scale = {"base": 1.05, "mid": 1.0, "apical": 0.62}[level] * heart.level_scale
    r_endo = 0.5 * heart.lv_width * scale * (1 - fs * c * (1.15 if level == "apical" else 1.0))
    wall = heart.wall * (0.9 if level == "apical" else 1.0) * (1 + heart.thickening * c)
    r_epi = r_endo + wall
    ecc = 0.95  # slightly flattened septum
    # RV: a crescent on the anterior (top) and septal (left) side of the LV, thickest at ~10 o'clock.
    rv_t = heart.rv_width * 0.62 * (1 - 0.2 * c) * {"base": 1.0, "mid": 0.85, "apical": 0.45}[level]
    phi = np.deg2rad(np.linspace(70.0, 235.0, 40))
    bulge = np.sin(np.pi * (phi - phi[0]) / (phi[-1] - phi[0])) ** 0.7
    ring = np.stack([np.cos(phi), -np.sin(phi) * ecc], axis=-1)
    inner = centre + ring * (r_epi - 0.05)
    outer = centre + ring * (r_epi + rv_t * bulge + 0.05)[:, None]
    outer_w = centre + ring * (r_epi + rv_t * bulge + 0.05 + heart.rv_wall * (0.3 + 0.7 * bulge))[:, None]
    rv_cav = np.concatenate([inner, outer[::-1]], axis=0)
    rv_wall_poly = np.concatenate([inner, outer_w[::-1]], axis=0)
    lv_epi = ellipse(*centre, r_epi, r_epi * ecc, 0.0, 72)
    hull = _hull(np.concatenate([lv_epi, rv_wall_poly]))
    scene.append((15, np.array([[-20, 0.02], [20, 0.02], [20, 2.2], [-20, 2.2]])))
    scene.extend(_pericardium(hull, heart))
    scene.append((11, rv_wall_poly))
    scene.append((3, rv_cav))
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
    scene.extend(_pericardium(hull, heart))
    scene.append((11, ellipse(*la_c, la_r + heart.atrial_wall, la_r * 0.9 + heart.atrial_wall)))
    scene.append((11, ellipse(*ra_c, ra_r + heart.atrial_wall, ra_r * 1.1 + heart.atrial_wall)))
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


def _suprasternal(heart: HeartParams, st: HeartState) -> Scene:
    """Suprasternal notch long axis: the aortic arch (ascending left, descending right) with the
    brachiocephalic, left carotid and left subclavian arteries rising toward the transducer, the right
    pulmonary artery in cross-section under the arch and the LA deeper."""
    ao = st.aortic_open
    scene: Scene = []
    R = heart.arch_radius * 0.8
    centre = np.array([0.3, 3.6 + R])
    rad = heart.ao_root / 2 * 0.8 * (1 + 0.06 * ao)  # the arch pulsates with ejection
    t = np.deg2rad(np.linspace(195, 345, 26))
    arch = centre + np.stack([np.cos(t) * R * 0.95, np.sin(t) * R], axis=-1)
    asc = np.stack([arch[0] + np.array([-0.2, 3.0]), arch[0]])
    desc = np.stack([arch[-1], arch[-1] + np.array([0.5, 5.0])])
    full = np.concatenate([asc[:-1], arch, desc[1:]])
    scene.append((15, np.array([[-20, 0.02], [20, 0.02], [20, 1.0], [-20, 1.0]])))
    # mediastinal fat around the great vessels: moderately echogenic
    scene.append((11, tube(full, rad + 1.6, n=64)))
    branches = []
    for k, frac in enumerate((0.3, 0.47, 0.62)):
        p = arch[int(frac * (len(arch) - 1))]
        tip = p + np.array([-0.5 + 0.45 * k, -R * 1.1])
        branches.append((tube(np.stack([p, p + (tip - p) * 0.5, tip]), 0.42 - 0.04 * k + 0.15, n=14),
                         tube(np.stack([p, p + (tip - p) * 0.5, tip]), 0.42 - 0.04 * k, n=14)))
    for wall, _ in branches:
        scene.append((13, wall))
    scene.append((13, tube(full, rad + 0.2, n=64)))
    for _, lumen in branches:
        scene.append((6, lumen))
    scene.append((6, tube(full, rad, n=64)))
    rpa = centre + np.array([0.1, R * 0.15])
    scene.append((13, ellipse(*rpa, 1.05, 0.85)))
    scene.append((12, ellipse(*rpa, 0.85, 0.65)))
    la = rpa + np.array([0.2, 2.4])
    scene.append((11, ellipse(*la, 2.1, 1.4)))
    scene.append((4, ellipse(*la, 1.9, 1.2)))
    return scene


def _subcostal(heart: HeartParams, st: HeartState) -> Scene:
    """Subcostal 4-chamber: liver in the near field, the heart lying horizontally (apex to the right)."""
    four = _apical(heart, st, "A4C")
    # Rotate the A4C heart so that the apex points right and the RV lies on top, next to the liver.
    pivot = np.array([0.3, 8.0])
    rot = -np.pi / 2 + np.deg2rad(20.0)
    moved = [(2 if code > SEGMENT_CODE_BASE else code, _rot(p - pivot, rot) + np.array([-0.5, 11.2]))
             for code, p in four]
    peri = np.concatenate([p for code, p in moved if code == 10])
    top = float(peri[:, 1].min())
    x = np.linspace(-14.0, 14.0, 57)
    # the diaphragm drapes over the heart: lowest laterally, highest over the heart
    diaphragm_z = top - 0.25 + 0.018 * x ** 2 + 0.15 * x
    liver = np.concatenate([np.stack([x, diaphragm_z], axis=-1), np.array([[14.0, 1.2], [-14.0, 1.2]])])
    scene: Scene = [(15, np.array([[-20, 0.02], [20, 0.02], [20, 1.2], [-20, 1.2]]))]
    scene.append((9, liver))
    # hepatic veins converging on the IVC (dark, wall-less) and a portal branch (dark with a bright wall)
    ivc = np.array([-1.5, top - 0.6])
    for start, bend, radius in (((-5.5, 3.0), (-3.5, 4.8), 0.45), ((1.5, 2.4), (0.2, 4.4), 0.4),
                                ((5.5, 4.0), (2.0, 5.2), 0.35)):
        path = _bezier(np.array(start), np.array(bend), ivc, 12)
        scene.append((5, tube(path, np.linspace(radius * 0.7, radius * 1.3, len(path)), n=16)))
    portal = np.array([3.5, 2.9])
    scene.append((13, ellipse(*portal, 0.75, 0.55, 0.3, 24)))
    scene.append((5, ellipse(*portal, 0.5, 0.35, 0.3, 24)))
    scene.append((16, tube(np.stack([x, diaphragm_z + 0.2], axis=-1), 0.22, n=80)))
    scene.extend(moved)
    return scene


VIEW_BUILDERS: dict[str, Callable[..., Scene]] = {
    "PLAX": _plax,
    "PSAX-ves": lambda h, s: _psax(h, s, "ves"),
    "PSAX-base": lambda h, s: _psax(h, s, "base"),
    "PSAX-mid": lambda h, s: _psax(h, s, "mid"),
    "PSAX-apical": lambda h, s: _psax(h, s, "apical"),
    "A2C": lambda h, s: _apical(h, s, "A2C"),
    "A3C": lambda h, s: _apical(h, s, "A3C"),
    "A4C": lambda h, s: _apical(h, s, "A4C"),
    "A5C": lambda h, s: _apical(h, s, "A5C"),
    "Suprasternal": _suprasternal,
    "Subcostal": _subcostal,
}


def build_scene(view: str, heart: HeartParams, state: HeartState, pose: tuple[float, float, float, float]
                ) -> Scene:
    """The ordered polygons of one frame of ``view`` (a :data:`echo_monai.views.VIEW_NAMES` entry).

    Args:
        pose: ``(rotation_rad, dx_cm, dz_cm, scale)`` applied about the point (0, 8) cm, per clip.
    """
    if view not in VIEW_BUILDERS:
        raise ValueError(f"unknown view {view!r}; expected one of {tuple(VIEW_BUILDERS)}")
    scene = VIEW_BUILDERS[view](heart, state)
    rot, dx, dz, scale = pose
    pivot = np.array([0.0, 8.0])
    out: Scene = []
    for code, poly in scene:
        if code in (15,):  # chest wall bands stay attached to the transducer
            out.append((code, poly))
            continue
        out.append((code, _rot(poly - pivot, rot) * scale + pivot + np.array([dx, dz])))
    return out
