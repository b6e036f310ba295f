"""Figure of a regional analysis: the six segments on the ED frame and displacement curves per segment.

Drawn on a bare ``Figure`` with the Agg canvas, not through pyplot, so it works without a display and
leaves the caller's matplotlib backend and open figures alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from echo_monai.regional.classify import SegmentAssessment
from echo_monai.regional.motion import SegmentMotion
from echo_monai.regional.segments import AHA_SEGMENTS, SEGMENT_NAMES

__all__ = ["SEGMENT_COLORS", "plot_regional"]

#: One colour per segment 1..6 (colour-blind-safe Okabe-Ito palette).
SEGMENT_COLORS = ("#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#CC79A7")


def plot_regional(
    motion: SegmentMotion,
    assessment: SegmentAssessment | None = None,
    image: np.ndarray | None = None,
    frame_times_ms: np.ndarray | None = None,
    out_path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the segments on the ED frame and the displacement curves.

    Args:
        motion: result of :func:`~echo_monai.regional.motion.segment_motion`.
        assessment: optional verdicts; abnormal segments are marked in the legend and drawn dashed,
            segments that could not be measured are marked "not assessable".
        image: optional (H, W) greyscale ED frame under the segments (else a black background).
        frame_times_ms: optional (T,) frame times of the whole clip; the x axis is then time from ED.
        out_path: save the figure there (PNG/PDF/SVG by extension; written atomically).
        title: figure title.

    Returns:
        The matplotlib figure (not registered with pyplot; nothing to close).
    """
    seg = motion.ed_segments
    fig = Figure(figsize=(11, 4.8))
    FigureCanvasAgg(fig)
    ax_img, ax_curve = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    background = np.zeros(seg.shape) if image is None else np.asarray(image, dtype=np.float64)
    aspect = motion.spacing_mm[0] / motion.spacing_mm[1]  # square millimetres on screen
    ax_img.imshow(background, cmap="gray", interpolation="nearest", aspect=aspect)
    overlay = np.ma.masked_where(seg == 0, seg)
    ax_img.imshow(
        overlay,
        cmap=ListedColormap(SEGMENT_COLORS),
        vmin=0.5,
        vmax=6.5,
        alpha=0.75,
        interpolation="nearest",
        aspect=aspect,
    )
    cl = motion.ed_centerline.points_px
    ax_img.plot(cl[:, 1], cl[:, 0], color="white", lw=1)
    gap = np.where(motion.ed_centerline.in_wall, np.nan, 1.0)  # bridges across a broken wall, in red
    ax_img.plot(cl[:, 1] * gap, cl[:, 0] * gap, color="red", lw=1.5, ls=":")
    apex = cl[motion.ed_centerline.apex_index]
    ax_img.plot(apex[1], apex[0], "w^", ms=6)
    ax_img.set_title(f"ED frame {int(motion.frames[0])}: segments")
    ax_img.set_axis_off()

    if frame_times_ms is not None:
        t = np.asarray(frame_times_ms, dtype=np.float64)[motion.frames]
        x, xlabel = t - t[0], "time from ED (ms)"
    else:
        x, xlabel = motion.frames, "frame"
    handles = []
    for k in range(6):
        bad = assessment is not None and bool(assessment.abnormal[k])
        unknown = assessment is not None and not bool(assessment.assessed[k])
        verdict = " - abnormal" if bad else (" - not assessable" if unknown else "")
        label = f"{k + 1}: {SEGMENT_NAMES[k]} (AHA {AHA_SEGMENTS[k]}){verdict}"
        ax_curve.plot(
            x,
            motion.displacement_mm[:, k],
            color=SEGMENT_COLORS[k],
            lw=2,
            ls="--" if bad else "-",
            marker="o",
            ms=3,
        )
        handles.append(Patch(color=SEGMENT_COLORS[k], label=label))
    ax_curve.axhline(0, color="grey", lw=0.8)
    ax_curve.set_xlabel(xlabel)
    ax_curve.set_ylabel("inward endocardial displacement (mm)")
    ax_curve.set_title("displacement from ED")
    ax_curve.grid(alpha=0.3)
    ax_curve.legend(handles=handles, fontsize=7, loc="upper left")
    if title or assessment is not None:
        verdict = "" if assessment is None else f"MI: {'yes' if assessment.mi else 'no'}"
        fig.suptitle(" - ".join(v for v in (title, verdict) if v))
    fig.tight_layout()
    if out_path is not None:
        out_path = Path(out_path)
        fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.stem}-", suffix=out_path.suffix)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=120)
            os.replace(tmp, out_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return fig
