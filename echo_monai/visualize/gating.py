"""The gating figure: the ECG (or image phase signal) with R peaks, chosen frames and ED/ES thumbnails."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from echo_monai.ecg.gating import Gating, gate_cine
from echo_monai.io.cine import read_cine
from echo_monai.io.dicom_read import burned_in_ecg_area
from echo_monai.io.types import EchoCine

__all__ = ["gating_figure_for_file", "plot_gating"]


def plot_gating(cine: EchoCine, gating: Gating, out_path: str | os.PathLike, *, title: str | None = None,
                max_thumbs: int = 3) -> Path:
    """Write a PNG: signal with R peaks and ED/ES frame marks on top, ED/ES thumbnails below.

    Args:
        cine: the cine (its ECG, if any, is drawn; otherwise the frame times only).
        gating: the result of :func:`~echo_monai.ecg.gating.gate_cine` on it.
        out_path: PNG file to write (its folder is created).
        title: figure title (defaults to the file name, which carries no patient identifiers here).
        max_thumbs: up to twice this many ED/ES frames are shown as thumbnails, in time order.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.asarray(cine.frame_times_ms, dtype=np.float64)
    thumbs = sorted([(int(f), "ED") for f in gating.ed_frames] + [(int(f), "ES") for f in gating.es_frames])
    thumbs = thumbs[: 2 * max_thumbs]
    n_cols = max(len(thumbs), 2)
    fig = plt.figure(figsize=(max(8.0, 2.0 * n_cols), 5.6))
    grid = fig.add_gridspec(2, n_cols, height_ratios=[1.0, 1.3])
    ax = fig.add_subplot(grid[0, :])
    ecg = gating.ecg
    if ecg is not None and ecg.signal.size:
        lead = ecg.signal[0]
        ax.plot(ecg.times_ms, lead, color="black", lw=0.8, label=f"ECG ({ecg.source})")
        r = gating.r_times_ms[(gating.r_times_ms >= ecg.times_ms[0]) & (gating.r_times_ms <= ecg.times_ms[-1])]
        ax.plot(r, np.interp(r, ecg.times_ms, lead), "rv", ms=7, label="R peaks")
    elif gating.image_signal is not None:
        ax.plot(times, gating.image_signal, color="black", lw=0.8, marker=".", label=f"image phase ({gating.method})")
        ax.plot(times[gating.ed_frames], gating.image_signal[gating.ed_frames], "rv", ms=7, label="ED (image)")
    else:
        ax.plot(gating.r_times_ms, np.zeros_like(gating.r_times_ms), "rv", ms=7,
                label="ED (image)" if gating.ecg_source == "none" else "R waves")
    ax.axvspan(times[0], times[-1], color="0.92", zorder=0, label="cine")
    for f in gating.ed_frames:
        ax.axvline(times[f], color="tab:red", lw=1.2)
    for f in gating.es_frames:
        ax.axvline(times[f], color="tab:blue", lw=1.2, ls="--")
    ax.set_xlabel("ms from the first frame (red: ED frames, blue dashed: ES frames)")
    ax.set_title(title or (Path(cine.path).name if cine.path else "cine") +
                 f"  |  source: {gating.ecg_source}, method: {gating.method}, ES: {gating.es_method}"
                 + (f", HR {gating.heart_rate_bpm:.0f} bpm" if np.isfinite(gating.heart_rate_bpm) else ""),
                 fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    for i, (frame, name) in enumerate(thumbs):
        sub = fig.add_subplot(grid[1, i])
        img = cine.frames[frame]
        sub.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        sub.set_title(f"{name} frame {frame} ({times[frame]:.0f} ms)", fontsize=8)
        sub.axis("off")
    if gating.warnings:
        fig.text(0.01, 0.01, "notes: " + "; ".join(gating.warnings)[:220], fontsize=7, color="0.3")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def gating_figure_for_file(path: str | os.PathLike, out_path: str | os.PathLike, **gate_kwargs) -> Gating:
    """Gate any cine file and write its gating figure; returns the gating used."""
    cine = read_cine(path, ecg_search_dir=Path(path).parent)  # a separate ECG object sits beside the cine
    # Only the part of the image where a burned-in trace can be is read in colour (bounded memory).
    colour = ((lambda: read_cine(path, grey=False, with_ecg=False, crop=burned_in_ecg_area))
              if cine.frames.ndim == 3 else None)
    gating = gate_cine(cine, colour_cine=colour, **gate_kwargs)
    plot_gating(cine, gating, out_path)
    return gating
