"""Cardiac mechanics driven by ECG timing: LV contraction state and valve openings over time.

The model follows the Wiggers diagram. For each beat (R peak at ``r``, end of the T wave at ``t_end``):

* end-diastole (largest LV) at the R peak; isovolumic contraction for ~50 ms;
* ejection down to end-systole (smallest LV) exactly at the end of the T wave; aortic valve open;
* isovolumic relaxation (~60-80 ms), then rapid filling (E wave, mitral valve wide open),
  diastasis (mitral valve half closed), and the atrial kick (A wave) that ends just before the next R.

"Contraction state" ``c`` is 0 at end-diastole and 1 at end-systole; every moving structure of the
anatomy interpolates between its ED and ES geometry with ``c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CardiacPhases", "cardiac_phases"]


@dataclass
class CardiacPhases:
    """Per-frame mechanical state, all arrays of shape (T,).

    Attributes:
        contraction: 0 at end-diastole, 1 at end-systole.
        mitral_open: 0 closed .. 1 fully open (E wave); also used for the tricuspid valve.
        aortic_open: 0 closed .. 1 fully open; also used for the pulmonary valve.
        atrial: atrial volume state, 1 = largest (end-systole), 0 = smallest (after the atrial kick).
    """

    contraction: np.ndarray
    mitral_open: np.ndarray
    aortic_open: np.ndarray
    atrial: np.ndarray


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def cardiac_phases(t_ms: np.ndarray, r_times_ms: np.ndarray, t_end_times_ms: np.ndarray) -> CardiacPhases:
    """Mechanical state at times ``t_ms`` (T,) from R-peak and T-end times (ms, same clock, one per beat).

    ``r_times_ms`` must include a beat at or before ``t_ms[0]`` and one after ``t_ms[-1]``; the generator
    synthesises the ECG with a margin on both sides so that a clip can start mid-beat.
    """
    t = np.asarray(t_ms, dtype=np.float64)
    r = np.asarray(r_times_ms, dtype=np.float64)
    te = np.asarray(t_end_times_ms, dtype=np.float64)
    if r.size < 2 or te.size != r.size:
        raise ValueError("need at least two beats with one T-wave end per R peak")
    k = np.clip(np.searchsorted(r, t, side="right") - 1, 0, r.size - 2)
    r0, r1, tend = r[k], r[k + 1], te[k]
    tend = np.clip(tend, r0 + 120.0, r1 - 80.0)  # a T end outside its own beat would break the model

    c = np.zeros_like(t)
    mitral = np.zeros_like(t)
    aortic = np.zeros_like(t)

    # Systole: isovolumic contraction, then ejection whose volume falls fastest early on.
    sys_len = tend - r0
    ivc = np.minimum(50.0, 0.2 * sys_len)
    in_sys = t < tend
    s = np.clip((t - r0 - ivc) / np.maximum(sys_len - ivc, 1.0), 0.0, 1.0)
    c_sys = 1.0 - (1.0 - s) ** 1.6 * (1.0 + 1.6 * s)  # fast start, zero slope at end-systole
    c = np.where(in_sys, c_sys, c)
    ao = np.where((t - r0 > ivc) & in_sys, np.sin(np.pi * np.clip(s, 0, 1)) ** 0.25, 0.0)
    aortic = np.where(in_sys, ao, aortic)

    # Diastole: isovolumic relaxation, E wave, diastasis, A wave (durations shrink with short diastole).
    d = t - tend
    dia_len = r1 - tend
    ivr = np.minimum(70.0, 0.14 * dia_len)
    e_len = np.minimum(170.0, 0.38 * dia_len)
    a_len = np.minimum(140.0, 0.30 * dia_len)
    a_start = dia_len - a_len - 10.0
    c_after_e = 0.22
    c_before_a = np.where(a_start > ivr + e_len, 0.17, c_after_e)  # diastasis: slow further filling
    x_e = (d - ivr) / e_len
    x_dia = (d - ivr - e_len) / np.maximum(a_start - ivr - e_len, 1.0)
    x_a = (d - a_start) / a_len
    c_dia = np.where(
        d < ivr,
        1.0,
        np.where(
            x_e < 1.0,
            1.0 - (1.0 - c_after_e) * _smoothstep(x_e),
            np.where(
                d < a_start,
                c_after_e + (c_before_a - c_after_e) * np.clip(x_dia, 0, 1),
                c_before_a * (1.0 - _smoothstep(x_a)),
            ),
        ),
    )
    m_e = np.sin(np.pi * np.clip(x_e, 0, 1)) ** 0.4
    m_dia = np.where(x_e >= 0.5, 0.35, 0.0)
    m_a = 0.8 * np.sin(np.pi * np.clip(x_a, 0, 1)) ** 0.4
    mit = np.where(d < ivr, 0.0, np.where(x_e < 0.5, m_e, np.maximum(np.maximum(m_e, m_dia), m_a)))
    mit = np.where(d > dia_len - 10.0, 0.0, mit)
    c = np.where(in_sys, c, c_dia)
    mitral = np.where(in_sys, 0.0, mit)
    # The atria fill while the ventricle ejects and empty in the E and A waves.
    a_top = 0.35 + 0.65 * c_before_a
    atrial = np.where(in_sys, c, np.where(d < a_start, 0.35 + 0.65 * c_dia, a_top * (1 - _smoothstep(x_a))))
    return CardiacPhases(
        contraction=c.astype(np.float32),
        mitral_open=np.clip(mitral, 0, 1).astype(np.float32),
        aortic_open=np.clip(aortic, 0, 1).astype(np.float32),
        atrial=np.clip(atrial, 0, 1).astype(np.float32),
    )
