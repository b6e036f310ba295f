"""Real DICOM cines from the generator, one per ECG form, long enough for two or more cycles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from echo_monai.synthetic.dataset import patient_heart, write_clip
from echo_monai.synthetic.generator import ClipSettings, render_clip
from echo_monai.synthetic.identity import fake_patient


def make_clip(folder: Path, form: str, *, view: str = "A4C", n_frames: int = 80, fps: float = 40.0,
              hr: float = 100.0, seed: int = 3, size: int = 96) -> tuple[Path, dict]:
    settings = ClipSettings(view=view, n_frames=n_frames, height=size, width=size, fps=fps,
                            heart_rate_bpm=hr, ecg_form=form, seed=seed)
    clip = render_clip(settings, patient_heart(seed, 0))
    rng = np.random.default_rng(seed)
    path = folder / f"{view}_{form}.dcm"
    write_clip(clip, path, seed=seed, case="case0000", clip_id=f"{view}_{form}", rng=rng,
               patient=fake_patient(rng, 0), study_time=dt.datetime(2024, 1, 1, 9, 0),
               storage=("jpeg_baseline", "YBR_FULL_422" if clip.frames.ndim == 4 else "MONOCHROME2"),
               separate_ecg=False)
    truth = {"ed_frames": clip.ed_frames, "es_frames": clip.es_frames, "frame_times_ms": clip.frame_times_ms,
             "r_times_ms": clip.r_times_ms}
    return path, truth


@pytest.fixture(scope="session")
def gated_clips(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    folder = tmp_path_factory.mktemp("gated_clips")
    return {form: make_clip(folder, form) for form in ("waveform", "burned_sweep", "none")}
