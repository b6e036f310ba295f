"""B-mode image formation for the synthetic cines: polar rendering, speckle, scan conversion, overlays.

Each frame is formed the way a phased-array scanner forms it, in (depth x beam angle) coordinates:

1. the anatomy is rasterised on the polar grid (one label per sample);
2. echogenicity per structure, reduced where a wall runs parallel to the beam (dropout) and raised where
   it faces the beam (specular reflection);
3. scatterers: a complex Gaussian texture fixed in tissue coordinates for the whole clip, sampled at
   positions that follow the contracting heart, so speckle is partly correlated from frame to frame;
4. the point-spread function, short axially and wide laterally *in angle*, so that speckle is elongated
   laterally and coarser with depth after scan conversion;
5. attenuation with imperfect time-gain compensation, near-field clutter, electronic noise, log compression;
6. scan conversion through a precomputed map (bilinear), and static overlays outside the sector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from echo_monai.synthetic.anatomy import SEGMENT_CODE_BASE

__all__ = [
    "SectorGeometry",
    "Speckle",
    "TissueLook",
    "code_lut",
    "draw_overlay",
    "rasterise",
    "render_polar",
    "scan_convert",
]


@dataclass
class SectorGeometry:
    """A sector image: apex at ``(apex_x, apex_y)`` pixels, square pixels of ``pixel_cm``.

    The sector spans ``[-half_angle, +half_angle]`` around ``tilt`` (radians, positive = toward +x) and
    depth ``[0, depth_cm]``. The polar grid has ``n_r`` depth samples and ``n_theta`` beams.
    """

    height: int
    width: int
    depth_cm: float
    half_angle: float
    tilt: float
    apex_x: float
    apex_y: float
    pixel_cm: float
    n_r: int
    n_theta: int

    @classmethod
    def fit(cls, height: int, width: int, depth_cm: float, half_angle: float, tilt: float = 0.0,
            top: float = 0.05, bottom: float = 0.84) -> SectorGeometry:
        """Largest sector that fits rows ``[top*H, bottom*H]`` and the width (the bottom strip is for the ECG)."""
        avail_h = (bottom - top) * height
        edge = max(abs(tilt - half_angle), abs(tilt + half_angle))
        half_w = depth_cm * np.sin(min(edge, np.pi / 2))
        pixel_cm = max(depth_cm / avail_h, 2 * half_w / (0.96 * width))
        n_r = int(np.clip(round(depth_cm / pixel_cm * 1.1), 64, 640))
        arc = 2 * half_angle * depth_cm / pixel_cm
        n_theta = int(np.clip(round(arc * 0.45), 48, 320))  # fewer beams than pixels at depth, like a scanner
        apex_y = top * height + (avail_h - depth_cm / pixel_cm) * 0.2
        return cls(height, width, depth_cm, half_angle, tilt, (width - 1) / 2.0, apex_y, pixel_cm, n_r, n_theta)

    @property
    def r_cm(self) -> np.ndarray:
        return np.linspace(0.0, self.depth_cm, self.n_r)

    @property
    def theta(self) -> np.ndarray:
        return np.linspace(-self.half_angle, self.half_angle, self.n_theta)

    def polar_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_cm, z_cm), each (n_r, n_theta), of the polar samples."""
        r, th = np.meshgrid(self.r_cm, self.theta + self.tilt, indexing="ij")
        return r * np.sin(th), r * np.cos(th)

    def to_polar_index(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) cm ``(x, z)`` -> (N, 2) float ``(theta index, r index)`` (PIL's (x, y))."""
        x, z = pts[:, 0], np.maximum(pts[:, 1], 0.02)
        r = np.hypot(x, z)
        th = np.arctan2(x, z) - self.tilt
        return np.stack([(th + self.half_angle) / (2 * self.half_angle) * (self.n_theta - 1),
                         r / self.depth_cm * (self.n_r - 1)], axis=-1)

    def to_pixel(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) cm ``(x, z)`` -> (N, 2) pixel ``(column, row)``."""
        return np.stack([self.apex_x + pts[:, 0] / self.pixel_cm, self.apex_y + pts[:, 1] / self.pixel_cm], axis=-1)

    def scan_map(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sector mask (H, W) bool and, for the pixels inside, their (r index, theta index) float32 coordinates."""
        yy, xx = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        x = (xx - self.apex_x) * self.pixel_cm
        z = (yy - self.apex_y) * self.pixel_cm
        r = np.hypot(x, z)
        th = np.arctan2(x, z) - self.tilt
        mask = (r <= self.depth_cm) & (np.abs(th) <= self.half_angle) & (z > 0)
        ri = r[mask] / self.depth_cm * (self.n_r - 1)
        ti = (th[mask] + self.half_angle) / (2 * self.half_angle) * (self.n_theta - 1)
        return mask, ri.astype(np.float32), ti.astype(np.float32)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Inclusive pixel bounds (x0, y0, x1, y1) of the sector's bounding box."""
        mask, _, _ = self.scan_map()
        ys, xs = np.nonzero(mask)
        return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _densify(poly: np.ndarray, step: float) -> np.ndarray:
    """Insert vertices so that no edge is longer than ``step`` cm (edges bend when drawn in polar space)."""
    closed = np.vstack([poly, poly[:1]])
    d = np.diff(closed, axis=0)
    n = np.maximum(1, np.ceil(np.hypot(d[:, 0], d[:, 1]) / step).astype(np.int64))
    if np.all(n == 1):
        return poly
    start = np.repeat(np.arange(len(poly)), n)
    frac = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return closed[start] + (frac / np.repeat(n, n))[:, None] * d[start]


def rasterise(scene, size_wh: tuple[int, int], to_index, densify_cm: float | None, base: np.ndarray | None = None
              ) -> np.ndarray:
    """Paint ``scene`` ((code, polygon) list) into a uint8 image of size ``size_wh`` = (width, height).

    ``to_index`` maps (N, 2) cm points to PIL (x, y) coordinates; ``base`` is the initial label image.
    """
    img = Image.fromarray(base) if base is not None else Image.new("L", size_wh, 0)
    draw = ImageDraw.Draw(img)
    for code, poly in scene:
        p = _densify(poly, densify_cm) if densify_cm else poly
        xy = to_index(p)
        draw.polygon([tuple(v) for v in xy.tolist()], fill=int(code))
    return np.asarray(img)


def code_lut() -> np.ndarray:
    """Scene code -> anatomy label (256,) uint8: wall segments map to the LV wall label 2."""
    lut = np.arange(256, dtype=np.uint8)
    lut[SEGMENT_CODE_BASE + 1:SEGMENT_CODE_BASE + 7] = 2
    return lut


@dataclass
class TissueLook:
    """Per-clip acoustic properties: mean echo amplitude per scene code and system settings."""

    amplitude: np.ndarray  # (256,) float32, mean scatter amplitude per scene code
    gain_db: float
    dynamic_range_db: float
    attenuation_db_cm: float  # residual after TGC (one-way equivalent), dB/cm
    noise: float
    clutter: float
    dropout: float
    specular: float
    psf_axial_px: float
    psf_lateral_px: float
    gamma: float
    level: float  # display level of the mean myocardium (0..1)
    reverb_period_cm: float = 1.0

    @classmethod
    def random(cls, rng: np.random.Generator) -> TissueLook:
        """Draw a scanner / patient look. Relative levels follow B-mode practice: blood ~25 dB below
        myocardium, pericardium and valves 8-12 dB above it, unlabelled soft tissue a little below it."""
        amp = np.zeros(256, dtype=np.float32)
        blood = rng.uniform(0.025, 0.055)
        myo = rng.uniform(0.35, 0.55)
        table = {0: rng.uniform(0.1, 0.2), 1: blood, 2: myo, 3: blood, 4: blood, 5: blood, 6: blood,
                 7: rng.uniform(1.0, 1.7), 8: myo * rng.uniform(1.0, 1.3), 9: rng.uniform(0.35, 0.5),
                 10: rng.uniform(1.2, 2.2), 11: myo * rng.uniform(0.8, 1.1), 12: blood,
                 13: rng.uniform(0.8, 1.3), 14: blood, 15: rng.uniform(0.18, 0.32), 16: rng.uniform(1.5, 2.5),
                 17: 0.06}
        for k, v in table.items():
            amp[k] = v
        amp[SEGMENT_CODE_BASE + 1:SEGMENT_CODE_BASE + 7] = myo
        return cls(amplitude=amp, gain_db=rng.uniform(-3, 3), dynamic_range_db=rng.uniform(45, 60),
                   attenuation_db_cm=rng.uniform(0.0, 0.35), noise=rng.uniform(0.003, 0.01),
                   clutter=rng.uniform(0.05, 0.22), dropout=rng.uniform(0.5, 0.85), specular=rng.uniform(0.8, 1.6),
                   psf_axial_px=rng.uniform(0.8, 1.3), psf_lateral_px=rng.uniform(1.1, 1.8),
                   gamma=rng.uniform(0.9, 1.2), level=rng.uniform(0.2, 0.33),
                   reverb_period_cm=rng.uniform(0.7, 1.6))


class Speckle:
    """A complex Gaussian scatterer texture fixed in tissue coordinates (cm), looked up at the nearest cell.

    The cell (0.045 cm) is about the axial sample spacing of the polar grid, so nearest lookup keeps the
    texture white at the grid's resolution; the point-spread function then makes the speckle.
    """

    def __init__(self, rng: np.random.Generator, extent_cm: float = 44.0, cell_cm: float = 0.045,
                 z_offset_cm: float = 0.0):
        n = int(np.ceil(extent_cm / cell_cm))
        self.cell = cell_cm
        self.x0 = -extent_cm / 2
        self.z0 = z_offset_cm - 1.0
        self.n = n
        tex = rng.standard_normal((n, n, 2), dtype=np.float32)
        self.tex = (tex[..., 0] + 1j * tex[..., 1]).astype(np.complex64)

    def sample(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Complex scatterer values at cm positions (any shape), unit power; positions wrap around."""
        i = np.rint((z - self.z0) / self.cell).astype(np.int64) % self.n
        j = np.rint((x - self.x0) / self.cell).astype(np.int64) % self.n
        return self.tex[i, j]


def render_polar(codes: np.ndarray, geom: SectorGeometry, look: TissueLook, scatter: np.ndarray,
                 background: np.ndarray, clutter_field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One B-mode frame in polar coordinates, uint8 (n_r, n_theta), from the scene codes (n_r, n_theta).

    ``scatter`` is the complex scatterer field at the polar samples; ``background`` (n_r, n_theta) the
    slowly varying echogenicity of unlabelled tissue; ``clutter_field`` a complex near-field haze.
    """
    amp = look.amplitude[codes]
    amp = np.where(codes == 0, amp * background, amp).astype(np.float32)
    # chest wall: layers of fat and muscle with bright fascial planes
    r_cm0 = geom.r_cm[:, None]
    fascia = 0.55 + 1.3 * np.exp(-0.5 * ((np.mod(r_cm0, look.reverb_period_cm * 0.8) - 0.3) / 0.06) ** 2)
    amp = np.where(codes == 15, amp * fascia, amp).astype(np.float32)
    # walls facing the beam reflect specularly; walls along the beam drop out
    dr_cm = geom.depth_cm / (geom.n_r - 1)
    dth = 2 * geom.half_angle / (geom.n_theta - 1)
    r_cm = geom.r_cm[:, None]
    # Specular reflection: boundaries facing the beam (fine gradient along depth) light up.
    smooth = ndimage.gaussian_filter(amp, (1.2, 1.0))
    g_fine = np.abs(np.diff(smooth, axis=0, prepend=smooth[:1])) / dr_cm
    # Dropout: a wall running along the beam returns little echo. Its orientation comes from a structure
    # tensor at the scale of a wall (~0.4 cm), so that the whole wall thickness is affected, not just its edge.
    # (computed on a 4x decimated grid: the orientation varies slowly and this is the costliest step)
    q = 4
    small = amp[::q, ::q]
    s_r, s_t = 0.4 / (dr_cm * q), 0.4 / (0.5 * geom.depth_cm * dth * q)
    r_small = np.maximum(geom.r_cm[::q, None], 0.5)
    coarse = ndimage.gaussian_filter(small, (s_r, s_t))
    g_r = np.diff(coarse, axis=0, prepend=coarse[:1]) / (dr_cm * q)
    g_t = np.diff(coarse, axis=1, prepend=coarse[:, :1]) / (r_small * dth * q)
    j_rr = ndimage.gaussian_filter(g_r * g_r, (s_r, s_t))
    j_tt = ndimage.gaussian_filter(g_t * g_t, (s_r, s_t))
    along_s = j_tt / (j_rr + j_tt + 1e-6)  # 1 where structures run along the beam
    strength_s = np.clip(np.sqrt(j_rr + j_tt) / 0.2, 0.0, 1.0)
    full = (np.minimum(np.arange(amp.shape[0]) // q, along_s.shape[0] - 1)[:, None],
            np.minimum(np.arange(amp.shape[1]) // q, along_s.shape[1] - 1)[None, :])
    along = ndimage.uniform_filter(along_s[full], q)
    strength = ndimage.uniform_filter(strength_s[full], q)
    tissue = amp > 0.2
    drop = look.dropout * np.clip(1.4 * along - 0.4, 0.0, 1.0) * strength * tissue
    along_fine = np.clip(1.4 * along - 0.4, 0.0, 1.0)
    amp = amp * (1.0 - drop) + look.specular * 0.3 * g_fine * (1.0 - along_fine)
    field = scatter * amp
    # near-field clutter and reverberation bands, strongest in the first centimetres
    reverb = 1.0 + 0.6 * np.cos(2 * np.pi * r_cm / look.reverb_period_cm)
    field = field + clutter_field * (look.clutter * reverb * np.exp(-r_cm / 2.2))
    field = field + (rng.standard_normal(codes.shape) + 1j * rng.standard_normal(codes.shape)).astype(
        np.complex64) * look.noise
    re = ndimage.gaussian_filter(field.real, (look.psf_axial_px, look.psf_lateral_px), mode="nearest")
    im = ndimage.gaussian_filter(field.imag, (look.psf_axial_px, look.psf_lateral_px), mode="nearest")
    env = np.hypot(re, im) / (0.9 * np.sqrt(1.0 / (4 * np.pi * look.psf_axial_px * look.psf_lateral_px)))
    env *= 10 ** ((look.gain_db - look.attenuation_db_cm * r_cm) / 20.0)
    # the outermost beams are weaker (element directivity): the sector edges fade out
    th = np.abs(geom.theta) / geom.half_angle
    env *= np.clip((1.0 - th) / 0.18, 0.12, 1.0)[None, :] ** 0.8
    db = 20.0 * np.log10(env + 1e-6)
    ref = 20.0 * np.log10(float(look.amplitude[2]))
    x = np.clip((db - ref) / look.dynamic_range_db + look.level, 0.0, 1.0) ** look.gamma
    return (x * 255.0 + 0.5).astype(np.uint8)


def scan_convert(polar: np.ndarray, mask: np.ndarray, ri: np.ndarray, ti: np.ndarray, order: int = 1) -> np.ndarray:
    """Polar image (n_r, n_theta) -> sector image (H, W) through the precomputed map (0 outside)."""
    out = np.zeros(mask.shape, dtype=polar.dtype)
    out[mask] = ndimage.map_coordinates(polar, np.stack([ri, ti]), order=order, mode="nearest",
                                        prefilter=False)
    return out


def _font(px: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=max(6, px))
    except (OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_overlay(geom: SectorGeometry, lines_left: list[str], lines_right: list[str], rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Static screen annotations outside the sector: text, a depth scale with 1 cm ticks, a probe marker.

    Returns ``(value, alpha)``, both (H, W) uint8 (alpha 0 or 255).
    """
    h, w = geom.height, geom.width
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    fs = max(7, round(h / 30))
    font = _font(fs)
    grey = int(rng.integers(170, 235))
    y = 2
    for line in lines_left:
        d.text((3, y), line, fill=grey, font=font)
        y += fs + 1
    # depth scale: a vertical line right of the sector with a tick every cm and a label every 5 cm
    # (labels go right of the line: overlay pixels inside the sector are dropped)
    x_scale = w - 3 - int(1.3 * fs)
    y = 2
    for line in lines_right:
        tw = d.textlength(line, font=font)
        d.text((x_scale - 6 - tw, y), line, fill=grey, font=font)
        y += fs + 1
    y_top = geom.apex_y
    for cm in range(int(geom.depth_cm) + 1):
        yy = round(y_top + cm / geom.pixel_cm)
        if yy >= h:
            break
        tick = 5 if cm % 5 == 0 else 3
        d.line([(x_scale - tick, yy), (x_scale, yy)], fill=grey)
        if cm % 5 == 0 and cm > 0:
            d.text((x_scale + 2, yy - fs // 2), str(cm), fill=grey, font=_font(max(6, fs - 2)))
    d.line([(x_scale, int(y_top)), (x_scale, min(h - 1, int(y_top + geom.depth_cm / geom.pixel_cm)))], fill=grey // 2)
    # probe orientation marker near the sector's top right edge
    mx = geom.apex_x + 0.55 * geom.depth_cm * np.sin(geom.half_angle) / geom.pixel_cm * 0.35 + 6
    my = geom.apex_y + 2
    r = max(2, fs // 3)
    d.ellipse([mx - r, my - r, mx + r, my + r], fill=grey)
    value = np.asarray(img)
    alpha = (value > 0).astype(np.uint8) * 255
    return value, alpha
