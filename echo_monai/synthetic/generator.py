"""One synthetic echo clip: ECG -> cardiac mechanics -> anatomy -> B-mode frames, with its ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from matplotlib.path import Path as MplPath
from scipy import ndimage

from echo_monai.io.types import UltrasoundRegion
from echo_monai.synthetic.anatomy import BLOOD_LABELS, SEGMENT_CODE_BASE, HeartParams, HeartState, build_scene
from echo_monai.synthetic.ecg import SyntheticECG, synthetic_ecg
from echo_monai.synthetic.ecg_overlay import draw_ecg_trace
from echo_monai.synthetic.imaging import (
    SectorGeometry,
    Speckle,
    TissueLook,
    code_lut,
    draw_overlay,
    rasterise,
    render_polar,
    scan_convert,
)
from echo_monai.synthetic.phases import cardiac_phases
from echo_monai.views import VIEW_NAMES, view_index

__all__ = ["ECG_FORMS", "ClipSettings", "SyntheticClip", "lv_wall_in_sector", "random_settings", "render_clip"]

#: How the ECG reaches the user: inside the DICOM, burned into the pixels (two displays), or not at all.
ECG_FORMS = ("waveform", "burned_sweep", "burned_review", "none")

# Typical imaging depth (cm) and sector opening (degrees) per view.
_DEPTH = {"PLAX": (13, 17), "PSAX-ves": (12, 16), "PSAX-base": (13, 16), "PSAX-mid": (13, 17),
          "PSAX-apical": (12, 16), "A2C": (15, 19), "A3C": (15, 19), "A4C": (15, 19), "A5C": (15, 19),
          "Suprasternal": (12, 16), "Subcostal": (16, 20)}
_HALF_ANGLE = {"Suprasternal": (38, 45), "Subcostal": (36, 45), "PLAX": (38, 45)}
#: Views whose acquisition is framed on the LV (the sonographer keeps its walls inside the sector).
_APICAL = ("A2C", "A3C", "A4C", "A5C")
#: Share of apical clips acquired off-axis, where part of the LV wall may leave the sector.
_OFF_AXIS_SHARE = 0.1
#: An apical clip is framed when this share of the LV wall's area lies inside the sector.
_FRAMED_SHARE = 0.99
_VENDORS = ("SYNTHOSOUND S7", "ECHOSIM V5", "FAKESCAN CX50", "PSEUDO-US E9", "SIMULUS EPIQ")
_PROBES = ("S5-1 sim", "M5Sc sim", "X5-1 sim", "P4-2 sim")


@dataclass
class ClipSettings:
    """Everything random about one clip except the patient's heart (drawn by :func:`random_settings`).

    Units: ``fps`` frames/s (``irregular_frames`` alternates a short and a double interval), heart rate
    bpm, ``rr_std`` s, depth cm, angles degrees (``half_angle_deg`` is half the sector opening, ``tilt_deg``
    steers it), ``pose`` = (rotation rad, dx cm, dz cm, scale) of the heart, ``ecg_form`` one of
    :data:`ECG_FORMS`, ``seed`` drives every remaining random choice, ``annotate`` draws the screen text.
    """

    view: str
    n_frames: int = 48
    height: int = 256
    width: int = 256
    fps: float = 50.0
    irregular_frames: bool = False
    heart_rate_bpm: float = 70.0
    rr_std: float = 0.03
    ectopic_prob: float = 0.0
    depth_cm: float = 16.0
    half_angle_deg: float = 37.5
    tilt_deg: float = 0.0
    pose: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    ecg_form: str = "waveform"
    seed: int = 0
    annotate: bool = True


def _clip_fps(n_frames: int, heart_rate_bpm: float, rng: np.random.Generator) -> float:
    """A frame rate at which ``n_frames`` span 2 to 3.2 heartbeats, as exported clinical clips usually do.

    Two beats guarantee one complete R-R cycle inside the clip wherever it starts; the rate stays within
    what scanners record (20-90 fps), so very short or long clips may still hold fewer or more beats.
    """
    beats = rng.uniform(2.0, 3.2)
    duration_s = beats * 60.0 / heart_rate_bpm
    return float(np.clip(n_frames / duration_s, 20.0, 90.0))


def lv_wall_in_sector(view: str, heart: HeartParams, pose: tuple[float, float, float, float], half_angle_deg: float,
                      tilt_deg: float, depth_cm: float, *, margin_deg: float = 1.5, step_cm: float = 0.1) -> float:
    """Share of the LV wall's area (end-diastole and end-systole) inside the sector, ``margin_deg`` in from its edges.

    1.0 means the whole LV wall is in the field of view; the wall truth of a clip only covers what is inside.
    The area is counted on a ``step_cm`` grid.
    """
    lut = code_lut()
    polys = [poly for c in (0.0, 1.0) for code, poly in build_scene(view, heart, HeartState(c, 0.0, 0.0, 0.0), pose)
             if lut[code] == 2]
    if not polys:
        raise ValueError(f"view {view!r} has no LV wall")
    lo, hi = np.min([p.min(axis=0) for p in polys], axis=0), np.max([p.max(axis=0) for p in polys], axis=0)
    gx, gz = np.meshgrid(np.arange(lo[0], hi[0] + step_cm, step_cm), np.arange(lo[1], hi[1] + step_cm, step_cm))
    grid = np.stack([gx.ravel(), gz.ravel()], axis=-1)
    in_wall = np.zeros(len(grid), dtype=bool)
    for poly in polys:
        in_wall |= MplPath(poly).contains_points(grid)
    xz = grid[in_wall]
    theta = np.degrees(np.arctan2(xz[:, 0], xz[:, 1])) - tilt_deg
    inside = (np.abs(theta) <= half_angle_deg - margin_deg) & (np.hypot(xz[:, 0], xz[:, 1]) <= depth_cm)
    return float(inside.mean()) if inside.size else 0.0


def _frame_lv(s: ClipSettings, heart: HeartParams) -> ClipSettings:
    """Redraw the pose (and widen the sector) of an apical clip until the whole LV wall is in the sector.

    A sonographer adjusts an apical view until the LV is fully in the field of view (ASE chamber quantification);
    :data:`_OFF_AXIS_SHARE` of clips keep their first pose, where the lateral wall may run out of the sector.
    Uses its own random stream (from ``s.seed``), so the clip's other settings do not change.
    """
    rng = np.random.default_rng([s.seed, 23])
    if rng.random() < _OFF_AXIS_SHARE:
        return s
    best, best_share = s, lv_wall_in_sector(s.view, heart, s.pose, s.half_angle_deg, s.tilt_deg, s.depth_cm)
    for _ in range(24):
        if best_share >= _FRAMED_SHARE:
            break
        cand = replace(s, half_angle_deg=float(rng.uniform(max(s.half_angle_deg, 36.0), 45.0)),
                       pose=(float(np.deg2rad(rng.normal(0, 7))), float(rng.normal(0, 0.45)), s.pose[2], s.pose[3]))
        share = lv_wall_in_sector(cand.view, heart, cand.pose, cand.half_angle_deg, cand.tilt_deg, cand.depth_cm)
        if share > best_share:
            best, best_share = cand, share
    return best


def random_settings(view: str, rng: np.random.Generator, *, n_frames: int = 48, size: tuple[int, int] = (256, 256),
                    heart_rate_bpm: float | None = None, ecg_form: str | None = None,
                    heart: HeartParams | None = None) -> ClipSettings:
    """Draw the acquisition settings of a clip of ``view``.

    With ``heart``, an apical view is framed on that patient's LV as a sonographer would (:func:`_frame_lv`);
    without it the pose is drawn blind and the lateral wall may leave the sector.
    """
    lo, hi = _DEPTH[view]
    form = ecg_form or str(rng.choice(ECG_FORMS, p=[0.35, 0.25, 0.25, 0.15]))
    if heart_rate_bpm is not None:
        hr = float(heart_rate_bpm)
    elif rng.random() < 0.2:  # the extremes occur (bradycardia, tachycardia) and must be covered
        hr = float(rng.uniform(45, 150))
    else:
        hr = float(np.clip(rng.lognormal(np.log(72), 0.2), 45, 150))
    settings = ClipSettings(
        view=view, n_frames=n_frames, height=int(size[0]), width=int(size[1]),
        fps=_clip_fps(n_frames, hr, rng), irregular_frames=bool(rng.random() < 0.15),
        heart_rate_bpm=hr, rr_std=float(rng.uniform(0.01, 0.05)),
        ectopic_prob=float(rng.choice([0.0, 0.0, 0.0, 0.15])),
        depth_cm=float(rng.uniform(lo, hi)), half_angle_deg=float(rng.uniform(*_HALF_ANGLE.get(view, (32, 43)))),
        tilt_deg=float(rng.normal(0, 2.0)),
        pose=(float(np.deg2rad(rng.normal(0, 7))), float(rng.normal(0, 0.45)), float(rng.normal(0, 0.45)),
              float(rng.normal(1.0, 0.04))),
        ecg_form=form, seed=int(rng.integers(0, 2 ** 31 - 1)),
    )
    return _frame_lv(settings, heart) if heart is not None and view in _APICAL else settings


@dataclass
class SyntheticClip:
    """A rendered clip and its truth (times in ms relative to the first frame).

    Attributes:
        frames: (T, H, W) uint8 greyscale, or (T, H, W, 3) RGB when the ECG is burned in.
        frame_times_ms: (T,) float64.
        ecg: the synthetic ECG (times in its own clock; sample 0 is at ``ecg_t0_ms``).
        ecg_t0_ms: time of ECG sample 0 relative to frame 0 (negative).
        r_times_ms, t_end_times_ms: every beat's R peak and T-wave end relative to frame 0 (beats overlapping
            the clip, including ones just before and after it).
        ed_frames, es_frames: frame indices nearest each R peak / T end that falls inside the clip.
        anatomy: (T, H, W) uint8 labels (:data:`~echo_monai.synthetic.anatomy.ANATOMY_LABELS`).
        sector_mask: (H, W) bool.
        wall_mask, segments: (T, H, W) uint8, A4C only (else ``None``).
        infarcted: (6,) bool (all False outside A4C).
        spacing_mm: (row, col) pixel size in mm.
        scan_region: (x0, y0, x1, y1) inclusive bounds of the sector.
        tissue_region: the sector's ultrasound region (cm per pixel, apex as reference pixel).
        trace_region: the burned-in ECG's ultrasound region, or ``None``.
    """

    settings: ClipSettings
    frames: np.ndarray
    frame_times_ms: np.ndarray
    ecg: SyntheticECG
    ecg_t0_ms: float
    r_times_ms: np.ndarray
    t_end_times_ms: np.ndarray
    ed_frames: np.ndarray
    es_frames: np.ndarray
    anatomy: np.ndarray
    sector_mask: np.ndarray
    spacing_mm: tuple[float, float]
    scan_region: tuple[int, int, int, int]
    infarcted: np.ndarray
    wall_mask: np.ndarray | None = None
    segments: np.ndarray | None = None
    trace_region: UltrasoundRegion | None = None
    tissue_region: UltrasoundRegion | None = None
    contraction: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def view_index(self) -> int:
        return view_index(self.settings.view)


def _frame_times(n: int, fps: float, irregular: bool) -> np.ndarray:
    """(n,) ms from 0; irregular clips alternate a short and a double interval (e.g. 17.9 / 35.8 ms)."""
    dt = 1000.0 / fps
    if not irregular:
        return np.arange(n, dtype=np.float64) * round(dt, 3)
    short = round(dt * 2.0 / 3.0, 1)
    steps = np.where(np.arange(n - 1) % 2 == 0, short, 2 * short)
    return np.r_[0.0, np.cumsum(steps)]


def _nearest_frames(times: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Indices of the frames nearest each event that lies within the clip (at most half a frame outside)."""
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    half = 0.5 * float(np.median(np.diff(times))) if times.size > 1 else 0.0
    ev = events[(events >= times[0] - half) & (events <= times[-1] + half)]
    idx = np.abs(times[None, :] - ev[:, None]).argmin(axis=1) if ev.size else np.zeros(0, dtype=np.int64)
    return np.unique(idx).astype(np.int64)


def render_clip(settings: ClipSettings, heart: HeartParams) -> SyntheticClip:
    """Render one clip of ``settings.view`` for the patient ``heart``; deterministic given ``settings.seed``."""
    s = settings
    if s.view not in VIEW_NAMES:
        raise ValueError(f"unknown view {s.view!r}; expected one of {VIEW_NAMES}")
    rng = np.random.default_rng(s.seed)
    times = _frame_times(s.n_frames, s.fps, s.irregular_frames)
    clip_s = float(times[-1]) / 1000.0
    pre_s, post_s = 2.5, 1.5  # ECG before the first frame (a sweep screen needs history) and after the last
    # leads differ: some traces are inverted or have T waves as tall as the R wave
    ecg = synthetic_ecg(pre_s + clip_s + post_s, 500.0, s.heart_rate_bpm, rr_std=s.rr_std,
                        ectopic_prob=s.ectopic_prob, noise_mv=float(rng.uniform(0.005, 0.03)),
                        baseline_wander_mv=float(rng.uniform(0.0, 0.15)),
                        t_wave_scale=float(rng.choice([1.0, 1.0, 1.0, 0.6, 1.8, 2.5])),
                        invert=bool(rng.random() < 0.08), rng=rng)
    t0_ms = -pre_s * 1000.0
    r_ms = ecg.r_times_s * 1000.0 + t0_ms
    te_ms = ecg.t_end_s * 1000.0 + t0_ms
    ph = cardiac_phases(times, r_ms, te_ms)

    geom = SectorGeometry.fit(s.height, s.width, s.depth_cm, np.deg2rad(s.half_angle_deg), np.deg2rad(s.tilt_deg))
    mask, ri, ti = geom.scan_map()
    look = TissueLook.random(rng)
    # where exactly the plane cuts: outflow tract share (A5C / A3C), short-axis level (PSAX)
    heart = replace(heart, outflow=float(rng.uniform(0.55, 1.0)), level_scale=float(rng.uniform(0.88, 1.1)))
    speckle = Speckle(rng)
    px, pz = geom.polar_points()
    # unlabelled tissue: slowly varying echogenicity (fat, lung shadows at the sector edges)
    bg = ndimage.gaussian_filter(rng.standard_normal((geom.n_r, geom.n_theta)), (geom.n_r / 12, geom.n_theta / 10))
    bg = np.exp(0.7 * bg / (bg.std() + 1e-9) - 0.25).astype(np.float32)
    bg *= np.clip(1.2 - 0.8 * (np.abs(geom.theta) / geom.half_angle) ** 4, 0.2, 1.0)[None, :]
    clutter_tex = Speckle(rng, extent_cm=8.0, cell_cm=0.06)
    lut = code_lut()
    is_blood = np.isin(np.arange(256), BLOOD_LABELS)
    decorrelation = float(rng.uniform(0.15, 0.45))
    keep = float(np.sqrt(1.0 - decorrelation ** 2))
    heart_centre = np.array([s.pose[1], 8.0 + s.pose[2]])
    # tissue moves with the heart: contraction pulls it toward the heart's centre, fading with distance
    dxh, dzh = px - heart_centre[0], pz - heart_centre[1]
    near_heart = 0.13 * np.exp(-(dxh ** 2 + dzh ** 2) / (2 * 4.5 ** 2))

    is_a4c = s.view == "A4C"
    T, H, W = s.n_frames, s.height, s.width
    grey = np.zeros((T, H, W), dtype=np.uint8)
    anatomy = np.zeros((T, H, W), dtype=np.uint8)
    segments = np.zeros((T, H, W), dtype=np.uint8) if is_a4c else None
    probe_jitter = rng.normal(0, 0.02, size=(T, 2)).cumsum(axis=0) * 0.5  # slow hand motion, cm
    for t in range(T):
        st = HeartState(float(ph.contraction[t]), float(ph.mitral_open[t]), float(ph.aortic_open[t]),
                        float(ph.atrial[t]))
        rot, dx, dz, sc = s.pose
        scene = build_scene(s.view, heart, st, (rot, dx + probe_jitter[t, 0], dz + probe_jitter[t, 1], sc))
        codes = rasterise(scene, (geom.n_theta, geom.n_r), geom.to_polar_index, 0.3)
        # sample the fixed scatterer texture where each sample's tissue was at end-diastole
        k = 1.0 + near_heart * float(ph.contraction[t])
        scat = speckle.sample(heart_centre[0] + dxh * k - probe_jitter[t, 0],
                              heart_centre[1] + dzh * k - probe_jitter[t, 1])
        # out-of-plane motion decorrelates tissue speckle partly; blood speckle is new in every frame
        fresh = rng.standard_normal((2, *codes.shape), dtype=np.float32)
        fresh = fresh[0] + 1j * fresh[1]
        scat = np.where(is_blood[codes], fresh, keep * scat + decorrelation * fresh)
        clut = clutter_tex.sample(px * 0.6, pz * 0.6 + rng.normal(0, 0.01))
        polar = render_polar(codes, geom, look, scat, bg, clut, rng)
        grey[t] = scan_convert(polar, mask, ri, ti)
        cart = rasterise(scene, (W, H), geom.to_pixel, None)
        cart = np.where(mask, cart, 0).astype(np.uint8)
        anatomy[t] = lut[cart]
        if segments is not None:
            seg = cart.astype(np.int16) - SEGMENT_CODE_BASE
            segments[t] = np.where((seg >= 1) & (seg <= 6), seg, 0).astype(np.uint8)

    ed = _nearest_frames(times, r_ms)
    es = _nearest_frames(times, te_ms)
    frames: np.ndarray = grey
    trace_region = None
    if s.annotate:
        mean_hr = 60000.0 / float(np.mean(np.diff(r_ms))) if r_ms.size > 1 else s.heart_rate_bpm
        vendor = str(rng.choice(_VENDORS))
        left = [vendor, str(rng.choice(_PROBES)), f"{s.depth_cm:.0f} cm", f"{1000.0 / np.mean(np.diff(times)):.0f} Hz"]
        right = [f"HR {mean_hr:.0f} bpm", f"MI {rng.uniform(0.8, 1.4):.1f}", f"G {rng.integers(40, 70)}"]
        value, alpha = draw_overlay(geom, left, right, rng)
        alpha = np.where(mask, 0, alpha).astype(bool)
        frames = np.where(alpha[None], value[None], frames)
    if s.ecg_form in ("burned_sweep", "burned_review"):
        # a quarter of colour exports show the B-mode with a vendor tint (sepia or blue-grey)
        tint = np.ones(3) if rng.random() < 0.75 else np.array(
            [(1.0, 0.93, 0.8), (0.85, 0.93, 1.0)][int(rng.integers(0, 2))])
        rgb = np.clip(frames[..., None] * tint, 0, 255).astype(np.uint8)
        # the trace strip lies below the sector, as on a scanner screen
        y0 = int(np.nonzero(mask.any(axis=1))[0].max()) + 2
        y1 = H - 2 - H // 60
        x0 = max(1, W // 12)
        frames, trace_region = draw_ecg_trace(rgb, times, ecg.signal, ecg.fs, t0_ms,
                                              kind="sweep" if s.ecg_form == "burned_sweep" else "review",
                                              region=(x0, y0, W - 1 - x0, y1), color=None, rng=rng)
    x0, y0, x1, y1 = geom.bounds
    # the sector's ultrasound region, with the transducer (sector apex) as reference pixel, in cm
    tissue_region = UltrasoundRegion(
        x0=x0, y0=y0, x1=x1, y1=y1, spatial_format=1, data_type=1, units_x=3, units_y=3,
        delta_x=geom.pixel_cm, delta_y=geom.pixel_cm,
        reference_pixel_x0=round(geom.apex_x) - x0, reference_pixel_y0=round(geom.apex_y) - y0)
    return SyntheticClip(
        settings=s, frames=frames, frame_times_ms=times, ecg=ecg, ecg_t0_ms=t0_ms, r_times_ms=r_ms,
        t_end_times_ms=te_ms, ed_frames=ed, es_frames=es, anatomy=anatomy, sector_mask=mask,
        spacing_mm=(geom.pixel_cm * 10.0, geom.pixel_cm * 10.0), scan_region=(x0, y0, x1, y1),
        infarcted=heart.infarcted.copy() if is_a4c else np.zeros(6, dtype=bool),
        wall_mask=(anatomy == 2).astype(np.uint8) if is_a4c else None, segments=segments,
        trace_region=trace_region, tissue_region=tissue_region, contraction=ph.contraction,
    )
