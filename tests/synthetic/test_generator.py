"""Rendering of single clips: every view, determinism, A4C wall truth, ED/ES truth vs the LV cavity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from echo_monai.synthetic.anatomy import HeartParams, random_heart
from echo_monai.synthetic.generator import random_settings, render_clip
from echo_monai.views import VIEW_NAMES


def _settings(view, seed=0, **kw):
    s = random_settings(view, np.random.default_rng(seed), n_frames=kw.pop("n_frames", 6), size=(96, 112),
                        ecg_form=kw.pop("ecg_form", "none"))
    return dataclasses.replace(s, **kw)


@pytest.mark.parametrize("view", VIEW_NAMES)
def test_every_view_renders(view):
    clip = render_clip(_settings(view, seed=VIEW_NAMES.index(view)), random_heart(np.random.default_rng(1)))
    assert clip.frames.shape == (6, 96, 112) and clip.frames.dtype == np.uint8
    inside = clip.frames[:, clip.sector_mask]
    assert inside.std() > 15  # speckled image, not flat
    labels = np.unique(clip.anatomy)
    assert len(labels) >= 5  # several structures drawn
    assert not np.any(clip.anatomy[:, ~clip.sector_mask])
    # blood pools are darker than the surrounding tissue
    blood = np.isin(clip.anatomy, (1, 3, 4, 5, 6, 12, 14))
    tissue = np.isin(clip.anatomy, (2, 10, 11))
    assert clip.frames[blood].mean() < 0.6 * clip.frames[tissue].mean()


def test_render_is_deterministic():
    heart = random_heart(np.random.default_rng(3), infarct_prob=1.0)
    a = render_clip(_settings("A4C", 5), heart)
    b = render_clip(_settings("A4C", 5), heart)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.segments, b.segments)
    c = render_clip(_settings("A4C", 6), heart)
    assert not np.array_equal(a.frames, c.frames)


def _a4c_clip(heart, n_frames=40, seed=2, size=(96, 112)):
    return render_clip(_settings("A4C", seed, n_frames=n_frames, fps=30.0, irregular_frames=False,
                                 heart_rate_bpm=75.0, ectopic_prob=0.0, height=size[0], width=size[1]), heart)


def test_a4c_wall_truth_consistent_with_frames():
    heart = random_heart(np.random.default_rng(4))
    clip = _a4c_clip(heart, n_frames=10)
    wall, seg = clip.wall_mask.astype(bool), clip.segments
    assert np.array_equal(wall, seg > 0)  # the six segments partition the wall
    assert np.array_equal(wall, clip.anatomy == 2)
    for t in range(wall.shape[0]):
        assert set(np.unique(seg[t])) == set(range(7))
        assert not np.any(wall[t] & ~clip.sector_mask)
    # the wall is tissue on screen: brighter than the LV cavity it surrounds
    assert clip.frames[wall].mean() > 2.0 * clip.frames[clip.anatomy == 1].mean()
    # septal segments (1-3) lie left of the lateral ones (4-6) in the standard display
    cols = np.nonzero(seg[0])[1]
    sept = np.isin(seg[0][np.nonzero(seg[0])], (1, 2, 3))
    assert cols[sept].mean() < cols[~sept].mean()


def test_ed_es_truth_matches_lv_cavity_area():
    clip = _a4c_clip(random_heart(np.random.default_rng(5)))
    area = (clip.anatomy == 1).sum(axis=(1, 2)).astype(float)
    assert clip.ed_frames.size >= 1 and clip.es_frames.size >= 1
    assert np.all(area[clip.ed_frames] >= 0.95 * area.max())
    assert np.all(area[clip.es_frames] <= 1.06 * area.min())
    # EF-like area change: ES cavity clearly smaller
    assert area.min() < 0.75 * area.max()


def test_infarcted_segments_move_less():
    heart = HeartParams(ef=0.62, hypokinesis=0.25, infarcted=np.array([True, True, False, False, False, False]))
    clip = _a4c_clip(heart, n_frames=36, size=(192, 192))
    ed, es = int(clip.ed_frames[0]), int(clip.es_frames[0])

    def centroid(f, k):
        return np.argwhere(clip.segments[f] == k).mean(axis=0)

    def inward_shift(mid, base, apex):
        # motion of the mid segment across its own wall (the base->apex line at ED), so that the
        # longitudinal shortening along the wall does not count (pixels)
        d = centroid(ed, apex) - centroid(ed, base)
        n = np.array([-d[1], d[0]]) / np.hypot(*d)
        return abs(float((centroid(es, mid) - centroid(ed, mid)) @ n))

    assert inward_shift(5, 6, 4) > 1.5  # the normal mid lateral wall moves visibly
    assert inward_shift(2, 1, 3) < 0.5 * inward_shift(5, 6, 4)  # the infarcted mid septum much less


def test_clip_is_rgb_with_burned_in_trace():
    clip = render_clip(_settings("PLAX", 7, ecg_form="burned_sweep"), HeartParams())
    assert clip.frames.ndim == 4 and clip.trace_region is not None
    r = clip.trace_region
    strip = clip.frames[:, r.y0:r.y1 + 1, r.x0:r.x1 + 1]
    # every frame shows a trace in the strip, and a live sweep redraws it from frame to frame
    assert np.all(strip.reshape(strip.shape[0], -1).max(axis=1) > 100)
    assert not np.array_equal(strip[0], strip[-1])
    assert not np.any(clip.sector_mask[r.y0:r.y1 + 1, r.x0:r.x1 + 1])


def test_papillary_muscles_show_in_every_apical_view():
    # The A5C / A3C outflow tract redraws the LV cavity in front of its wall; it used to paint the papillary
    # muscles over, so their presence alone told A4C from A5C (found by the saliency benchmark).
    heart = random_heart(np.random.default_rng(4))
    pixels = {}
    for view in ("A2C", "A3C", "A4C", "A5C"):
        clip = render_clip(_settings(view, 3, n_frames=12, fps=20.0, heart_rate_bpm=70.0, height=192, width=224),
                           heart)
        systole = int(np.argmax(clip.contraction))
        pixels[view] = int(np.count_nonzero(clip.anatomy[systole] == 8))
    assert min(pixels.values()) > 0, pixels
    assert pixels["A5C"] > 0.5 * pixels["A4C"], pixels
    assert pixels["A3C"] > 0.5 * pixels["A2C"], pixels


@pytest.mark.parametrize("view", ["A4C", "A2C"])
def test_apical_views_are_framed_on_the_lv(view):
    """Given the patient's heart, apical clips keep the LV wall in the sector, as a sonographer frames them.

    Drawn blind (no heart), about half of apical clips lose more than a tenth of the LV wall outside the
    sector; framed, only the off-axis share may, and every other setting of the clip stays the same.
    """
    from echo_monai.synthetic.generator import lv_wall_in_sector

    blind, framed = [], []
    for k in range(30):
        heart = random_heart(np.random.default_rng([k, 5]))
        s0 = random_settings(view, np.random.default_rng([k, 1]))
        s1 = random_settings(view, np.random.default_rng([k, 1]), heart=heart)
        assert (s1.seed, s1.fps, s1.depth_cm, s1.ecg_form) == (s0.seed, s0.fps, s0.depth_cm, s0.ecg_form)
        for out, s in ((blind, s0), (framed, s1)):
            out.append(lv_wall_in_sector(view, heart, s.pose, s.half_angle_deg, s.tilt_deg, s.depth_cm, margin_deg=0))
    blind, framed = np.array(blind), np.array(framed)
    assert (blind < 0.9).mean() > 0.25
    assert (framed < 0.9).mean() <= 0.15
    assert framed.mean() > blind.mean() + 0.05
    # a non-apical view is drawn as before: the heart does not change its settings
    assert random_settings("PLAX", np.random.default_rng(2), heart=random_heart(np.random.default_rng(2))) == \
        random_settings("PLAX", np.random.default_rng(2))
