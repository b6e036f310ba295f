"""Segment verdicts: a frozen segment is abnormal, the rest normal; MI as any abnormal segment."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.regional import classify_segments, plot_regional, segment_motion

SPACING = (0.6, 0.5)


def _motion(phantom, inward_es, thickness_es):
    frames = []
    for f in np.linspace(0.0, 1.0, 4):
        mask, _ = phantom(
            inward_mm=tuple(np.asarray(inward_es) * f),
            thickness_es_mm=tuple(8.0 + (np.asarray(thickness_es) - 8.0) * f),
            spacing_mm=SPACING,
        )
        frames.append(mask)
    return segment_motion(np.stack(frames), 0, 3, SPACING, method="arc_length")  # as the phantom


@pytest.mark.parametrize("frozen", [0, 2, 4])
def test_frozen_segment_is_abnormal(phantom, frozen: int) -> None:
    inward = np.array([6.0, 6.0, 4.0, 4.0, 6.0, 6.0])
    thick = np.full(6, 10.5)
    inward[frozen], thick[frozen] = 0.0, 8.0
    result = classify_segments(_motion(phantom, inward, thick))
    expected = np.zeros(6, bool)
    expected[frozen] = True
    assert result.abnormal.tolist() == expected.tolist()
    assert result.mi


def test_normal_heart(phantom) -> None:
    result = classify_segments(_motion(phantom, [6.0, 6.0, 4.0, 4.0, 6.0, 6.0], [10.5] * 6))
    assert not result.abnormal.any() and not result.mi
    assert np.all(result.score > 0.6)


def test_globally_hypokinetic_heart_caught_by_absolute_norms() -> None:
    # Nothing stands out relatively, but everything moves too little.
    weak = classify_segments((np.full(6, 5.0), np.full(6, 8.0)))
    assert weak.abnormal.all() and weak.mi
    # The same proportions at normal magnitudes are normal.
    assert not classify_segments((np.full(6, 30.0), np.full(6, 40.0))).abnormal.any()


def test_thresholds_and_nan() -> None:
    short, thick = np.array([30.0, 30.0, 17.5, 30.0, 30.0, np.nan]), np.full(6, 40.0)
    result = classify_segments((short, thick))
    assert result.reference_shortening_pct == pytest.approx(30.0)
    assert result.score[2] == pytest.approx(0.5 * 17.5 / 30 + 0.5)
    assert result.abnormal.tolist() == [False] * 6
    assert result.assessed.tolist() == [True] * 5 + [False]  # NaN: not measured, no verdict
    strict = classify_segments((short, thick), relative_threshold=0.8)
    assert strict.abnormal[2]
    shortening_only = classify_segments((short, thick), shortening_weight=1.0)
    assert shortening_only.score[2] == pytest.approx(17.5 / 30)
    with pytest.raises(ValueError):
        classify_segments((np.zeros(5), np.zeros(5)))


def test_plot_writes_figure(phantom, tmp_path) -> None:
    inward = np.array([6.0, 6.0, 0.0, 4.0, 6.0, 6.0])
    motion = _motion(phantom, inward, [10.0, 10.0, 8.0, 10.0, 10.0, 10.0])
    result = classify_segments(motion)
    image = np.random.default_rng(0).integers(0, 255, motion.ed_segments.shape).astype(np.uint8)
    out = tmp_path / "regional.png"
    fig = plot_regional(motion, result, image=image, frame_times_ms=np.arange(4) * 33.3, out_path=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["regional.png"]  # no temp file left behind
    curve_ax = fig.axes[1]
    assert len(curve_ax.lines) >= 6
    assert "abnormal" in " ".join(t.get_text() for t in curve_ax.get_legend().get_texts())
