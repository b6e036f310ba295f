"""Gating from pixels: burned-in ECG traces and the image-only fallback, on synthetic DICOM cines.

Generates (or reuses) a synthetic dataset with :func:`echo_monai.synthetic.make_dataset`, reads every
DICOM with :func:`echo_monai.io.dicom_read.read_echo_cine` and compares with the clip's truth file:

* clips whose ECG is burned in (``ecg_form`` ``burned_sweep`` / ``burned_review``):
  :func:`echo_monai.ecg.burned_in.read_burned_in_trace` -> R times -> ED frame = frame nearest each R;
  a true ED frame counts as found when a recovered one is within 1 frame (issue 3: >= 90 %);
* every clip: :func:`echo_monai.ecg.image_phase.estimate_cycles_from_image` -> ED / ES frames within
  2 frames of the truth (issue 3: >= 80 %);
* clips without a burned-in trace: how often the trace reader wrongly reports one.

Usage::

    python benchmarks/bench_gating_pixels.py --patients 12 --clips-per-view 8 --seed 0
    python benchmarks/bench_gating_pixels.py --data /path/to/existing/synthetic/dataset
    python benchmarks/bench_gating_pixels.py --keep /tmp/gating_data   # generate, evaluate, keep the data
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from echo_monai.ecg.burned_in import read_burned_in_trace
from echo_monai.ecg.image_phase import estimate_cycles_from_image
from echo_monai.errors import EchoDataError
from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.views import VIEW_NAMES

BURNED = ("burned_sweep", "burned_review")


def nearest_frames(times: np.ndarray, events_ms: np.ndarray) -> np.ndarray:
    """Frame nearest each event that lies within half a frame interval of the clip (the truth's rule)."""
    half = 0.5 * float(np.median(np.diff(times)))
    ev = np.asarray(events_ms, dtype=np.float64)
    ev = ev[(ev >= times[0] - half) & (ev <= times[-1] + half)]
    if ev.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.abs(times[None, :] - ev[:, None]).argmin(axis=1))


def frame_errors(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each true frame, |nearest found - true| in frames (a large number when nothing was found)."""
    if found.size == 0:
        return np.full(truth.shape[0], 999, dtype=np.int64)
    return np.array([int(np.min(np.abs(found - f))) for f in truth], dtype=np.int64)


def pct(x: list | np.ndarray) -> str:
    x = np.asarray(x, dtype=bool)
    return f"{100.0 * x.mean():.1f} % ({int(x.sum())}/{x.size})" if x.size else "n/a"


def dist(x: list | np.ndarray) -> str:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return "n/a"
    return f"{np.median(x):.1f} / {np.percentile(x, 90):.1f} / {x.max():.1f}"


def evaluate(root: Path) -> dict:
    datalist = json.loads((root / "datalist.json").read_text())
    items = [it for split in datalist.values() for it in split]
    out: dict = collections.defaultdict(list)
    for it in items:
        truth = np.load(root / it["truth"])
        times_true = truth["frame_times_ms"]
        ed_true, es_true, r_true = truth["ed_frames"], truth["es_frames"], truth["r_times_ms"]
        cine = read_echo_cine(root / it["image"], grey=False, with_ecg=False)
        times = cine.frame_times_ms
        assert np.allclose(times, times_true, atol=0.01), it["image"]
        form, view = it["ecg_form"], it["view"]

        t0 = time.perf_counter()
        try:
            burned = read_burned_in_trace(cine.frames, times, trace_regions=cine.regions, path=it["image"])
        except EchoDataError as err:
            burned, reason = None, err.problem
        t_burned = time.perf_counter() - t0
        if form in BURNED:
            out["burned_time"].append(t_burned)
            rec = {"form": form, "view": view, "ok": burned is not None}
            if burned is None:
                rec.update(ed_err=frame_errors(np.zeros(0), ed_true), reason=reason)
            else:
                ed_found = nearest_frames(times, burned.r_times_ms)
                lo, hi = burned.times_ms[0] + 50.0, burned.times_ms[-1] - 50.0
                seen = r_true[(r_true > lo) & (r_true < hi)]
                r_err = [float(np.min(np.abs(burned.r_times_ms - r))) for r in seen]
                spurious = [r for r in burned.r_times_ms if np.min(np.abs(r_true - r)) > 60.0]
                rec.update(
                    ed_err=frame_errors(ed_found, ed_true),
                    r_err=r_err,
                    spurious=len(spurious),
                    kind_ok=burned.kind == form.split("_")[1],
                    spp_rel=abs(burned.seconds_per_pixel / float(truth["trace_seconds_per_pixel"]) - 1.0),
                    warnings=burned.warnings,
                )
            out["burned"].append(rec)
        else:
            out["false_trace"].append(burned is not None)

        t0 = time.perf_counter()
        try:
            cyc = estimate_cycles_from_image(cine.frames, times, path=it["image"])
            ed_f, es_f, method = cyc.ed_frames, cyc.es_frames, cyc.method
        except EchoDataError:
            ed_f, es_f, method = np.zeros(0, np.int64), np.zeros(0, np.int64), "failed"
        out["image_time"].append(time.perf_counter() - t0)
        out["image"].append(
            {
                "view": view,
                "method": method,
                "ed_err": frame_errors(ed_f, ed_true),
                "es_err": frame_errors(es_f, es_true),
                "ed_prec": frame_errors(ed_true, ed_f) <= 2,
                "es_prec": frame_errors(es_true, es_f) <= 2,
            }
        )
    return out


def report(res: dict) -> str:
    lines = ["## Burned-in ECG trace (ED frame = frame nearest each recovered R wave)", ""]
    lines += [
        (
            "| display | clips | read | kind right | ED within 1 frame | ED within 0 | "
            "R error ms (median / P90 / max) | s/px rel. error (median / max) | spurious R |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for form in (*BURNED, "all"):
        recs = [r for r in res["burned"] if form in ("all", r["form"])]
        if not recs:
            continue
        ok = [r for r in recs if r["ok"]]
        ed = np.concatenate([r["ed_err"] for r in recs]) if recs else np.zeros(0)
        r_err = [e for r in ok for e in r["r_err"]]
        spp = [r["spp_rel"] for r in ok]
        lines.append(
            f"| {form} | {len(recs)} | {pct([r['ok'] for r in recs])} | {pct([r['kind_ok'] for r in ok])} | "
            f"{pct(ed <= 1)} | {pct(ed == 0)} | {dist(r_err)} | "
            f"{np.median(spp) * 100:.2f} % / {np.max(spp) * 100:.2f} % | {sum(r['spurious'] for r in ok)} |"
        )
    failed = [r for r in res["burned"] if not r["ok"]]
    if failed:
        lines += [
            "",
            "Unread burned-in clips: " + "; ".join(f"{r['view']} {r['form']}: {r['reason']}" for r in failed),
        ]
    lines += ["", f"Clips without a burned-in trace reported as having one: {pct(res['false_trace'])}", ""]

    lines += ["## Image-only fallback (no ECG used)", ""]
    lines += [
        (
            "| view | clips | ED within 2 frames | ES within 2 frames | ED detections right | "
            "ES detections right | median abs ED / ES error (frames) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for view in (*VIEW_NAMES, "all"):
        recs = [r for r in res["image"] if view in ("all", r["view"])]
        if not recs:
            continue
        ed = np.concatenate([r["ed_err"] for r in recs])
        es = np.concatenate([r["es_err"] for r in recs])
        edp = np.concatenate([r["ed_prec"] for r in recs])
        esp = np.concatenate([r["es_prec"] for r in recs])
        med = (
            f"{np.median(np.minimum(ed, 99)):.0f} / {np.median(np.minimum(es, 99)):.0f}" if ed.size else "n/a"
        )
        lines.append(
            f"| {'**all**' if view == 'all' else view} | {len(recs)} | {pct(ed <= 2)} | {pct(es <= 2)} | "
            f"{pct(edp)} | {pct(esp)} | {med} |"
        )
    methods = collections.Counter(r["method"] for r in res["image"])
    lines += ["", f"Signal used: {dict(methods)}", ""]
    lines += [
        (
            f"Seconds per clip (median, 2 shared cores under load from other jobs): burned-in reader "
            f"{np.median(res['burned_time']):.3f} s, image fallback {np.median(res['image_time']):.3f} s"
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="existing synthetic dataset (else one is generated)")
    ap.add_argument("--patients", type=int, default=12)
    ap.add_argument("--clips-per-view", type=int, default=8)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="generate the dataset into this new folder and keep it")
    args = ap.parse_args()
    if args.data is not None:
        root = args.data
        print(report(evaluate(root)))
        return
    from echo_monai.synthetic import make_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep if args.keep is not None else Path(tmp) / "synthetic"
        t0 = time.perf_counter()
        make_dataset(
            root,
            n_patients=args.patients,
            clips_per_view=args.clips_per_view,
            n_frames=args.frames,
            size=args.size,
            seed=args.seed,
            workers=args.workers,
            figure=False,
        )
        print(f"generated {args.clips_per_view * 11} clips in {time.perf_counter() - t0:.0f} s\n")
        print(report(evaluate(root)))


if __name__ == "__main__":
    main()
