"""Cardiac mechanics from ECG timing: ED at R, ES at T end, valves open in the right phases."""

from __future__ import annotations

import numpy as np
import pytest

from echo_monai.synthetic.phases import cardiac_phases

R = np.array([0.0, 850.0, 1700.0, 2500.0])
T_END = R + 380.0


def test_end_diastole_at_r_and_end_systole_at_t_end():
    t = np.arange(0.0, 2400.0, 1.0)
    ph = cardiac_phases(t, R, T_END)
    for r, te in zip(R[:-1], T_END[:-1]):
        assert ph.contraction[int(r)] == pytest.approx(0.0, abs=0.02)
        assert ph.contraction[int(te)] == pytest.approx(1.0, abs=0.02)
        beat = (t >= r) & (t < r + 800)
        assert t[beat][np.argmax(ph.contraction[beat])] == pytest.approx(te, abs=25)


def test_valves_open_in_their_phases():
    t = np.arange(0.0, 2400.0, 1.0)
    ph = cardiac_phases(t, R, T_END)
    systole = (t > 80) & (t < 360)
    early_diastole = (t > T_END[0] + 90) & (t < T_END[0] + 200)
    assert np.all(ph.mitral_open[systole] == 0)
    assert np.all(ph.aortic_open[systole] > 0.5)
    assert ph.mitral_open[early_diastole].max() > 0.9
    assert np.all(ph.aortic_open[(t > T_END[0] + 5) & (t < R[1])] == 0)
    # atrial kick: the mitral valve reopens just before the next R after partial closure in diastasis
    late = (t > R[1] - 120) & (t < R[1] - 20)
    assert ph.mitral_open[late].max() > 0.5


def test_clip_starting_mid_beat_and_fast_rate():
    r = np.arange(-300.0, 3000.0, 400.0)  # 150 bpm
    te = r + 250.0
    t = np.arange(0.0, 2000.0, 16.7)
    ph = cardiac_phases(t, r, te)
    assert ph.contraction.min() < 0.1 and ph.contraction.max() > 0.9
    assert np.all(np.isfinite(ph.atrial))


def test_needs_two_beats():
    with pytest.raises(ValueError):
        cardiac_phases(np.arange(10.0), np.array([0.0]), np.array([300.0]))
