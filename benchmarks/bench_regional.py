"""Regional wall-motion analysis on synthetic A4C cases with known hypokinetic segments.

Writes a synthetic A4C dataset with ``echo_monai.synthetic.make_dataset`` (about half the patients have
1-3 adjacent hypokinetic segments), then for every clip, from the ground-truth wall masks:

1. reads the pixel spacing from the DICOM (``read_echo_cine(...).spacing_mm``) and checks it against the
   truth file;
2. takes the first ED frame that has a later ES frame (ECG-gated indices from the truth file);
3. splits the ED wall into the six segments and compares them with the generator's ``segments`` map
   (per-segment Dice);
4. measures per-segment displacement and thickening ED -> ES (``segment_motion``) and classifies the
   segments (``classify_segments``); compares with ``infarcted``.

Prints per-segment counts (TP, FN, TN, FP), sensitivity and specificity, recording-level MI detection,
segment agreement and time per clip.

Usage: python benchmarks/bench_regional.py [--patients 60] [--frames 60] [--size 224] [--seed 2]
       [--method long_axis] [--data DIR] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from echo_monai.errors import EchoDataError
from echo_monai.io import read_echo_cine
from echo_monai.regional import SEGMENT_NAMES, classify_segments, segment_motion, split_wall_segments
from echo_monai.synthetic import make_dataset


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else float("nan")


def _cycle(ed_frames: np.ndarray, es_frames: np.ndarray) -> tuple[int, int] | None:
    """(ED, ES) of one cycle: the first ED with an ES after it (before the next ED), else the last ED with
    an ES before it (a clip that starts in systole; the analysis then walks back from ED)."""
    ed_frames, es_frames = np.sort(ed_frames), np.sort(es_frames)
    for i, ed in enumerate(ed_frames):
        nxt = ed_frames[i + 1] if i + 1 < ed_frames.size else np.inf
        later = es_frames[(es_frames > ed) & (es_frames < nxt)]
        if later.size:
            return int(ed), int(later[0])
    for i in range(ed_frames.size - 1, -1, -1):
        prev = ed_frames[i - 1] if i > 0 else -np.inf
        earlier = es_frames[(es_frames < ed_frames[i]) & (es_frames > prev)]
        if earlier.size:
            return int(ed_frames[i]), int(earlier[-1])
    return None


def analyse(data_dir: Path, method: str, **classify_kw) -> list[dict]:
    """Per-clip results for every A4C clip with wall truth in a synthetic dataset folder."""
    datalist = json.loads((data_dir / "datalist.json").read_text())
    items = [it for split in datalist.values() for it in split if it.get("has_wall_mask")]
    rows = []
    for it in sorted(items, key=lambda it: it["image"]):
        truth = np.load(data_dir / it["truth"])
        spacing = read_echo_cine(data_dir / it["image"], with_ecg=False).spacing_mm
        if spacing is None or not np.allclose(spacing, truth["spacing_mm"], rtol=1e-3):
            raise RuntimeError(f"{it['image']}: DICOM spacing {spacing} != truth {truth['spacing_mm']}")
        ed_frames, es_frames = truth["ed_frames"], truth["es_frames"]
        pair = _cycle(ed_frames, es_frames)
        if pair is None:
            rows.append({"clip": it["image"], "skipped": "no ED and ES frame in one cycle"})
            continue
        ed, es = pair
        wall, segs = truth["wall_mask"], truth["segments"]
        t0 = time.perf_counter()
        try:
            motion = segment_motion(wall, ed, es, spacing, method=method)
        except EchoDataError as e:
            rows.append({"clip": it["image"], "skipped": e.problem, "truth": truth["infarcted"].astype(bool)})
            continue
        verdict = classify_segments(motion, **classify_kw)
        seconds = time.perf_counter() - t0
        dice = {}
        for m in ("arc_length", "long_axis"):
            ours = split_wall_segments(wall[ed], spacing, method=m)
            dice[m] = np.array([_dice(ours == k, segs[ed] == k) for k in range(1, 7)])
        rows.append(
            {
                "clip": it["image"],
                "ed": ed,
                "es": es,
                "truth": truth["infarcted"].astype(bool),
                "abnormal": verdict.abnormal,
                "assessed": verdict.assessed,
                "score": verdict.score,
                "displacement_mm": motion.peak_displacement_mm,
                "thickening_pct": motion.thickening_pct,
                "shortening_pct": motion.shortening_pct,
                "dice": dice,
                "seconds": seconds,
                "frames": abs(es - ed) + 1,
            }
        )
    return rows


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "n/a"


def report(rows: list[dict], command: str) -> str:
    """Markdown: per-segment confusion counts, recording-level MI, segment agreement, skipped clips, time."""
    done = [r for r in rows if "skipped" not in r]
    truth = np.stack([r["truth"] for r in done])
    pred = np.stack([r["abnormal"] for r in done])
    seen = np.stack([r["assessed"] for r in done])
    tp, fn = (seen & truth & pred).sum(0), (seen & truth & ~pred).sum(0)
    tn, fp = (seen & ~truth & ~pred).sum(0), (seen & ~truth & pred).sum(0)
    dice = {m: np.stack([r["dice"][m] for r in done]) for m in done[0]["dice"]}
    methods = list(dice)
    n_mi = int(truth.any(1).sum())
    lines = [f"Command: `{command}`", ""]
    lines.append(
        f"Clips analysed: {len(done)} of {len(rows)}; recordings with MI (any infarcted segment): {n_mi}; "
        f"infarcted segments: {int(truth.sum())} of {truth.size}. Segments not assessable (less than half "
        f"of the segment inside the truth wall mask, e.g. cut by the sector edge): {int((~seen).sum())} "
        f"({int((~seen & truth).sum())} of them infarcted); they are left out of the counts below."
    )
    lines += [
        "",
        "| segment | TP | FN | TN | FP | sensitivity | specificity | "
        + " | ".join(f"split Dice, {m}" for m in methods)
        + " |",
        "|---" * (7 + len(methods)) + "|",
    ]
    for k in range(6):
        counts = f"{tp[k]} | {fn[k]} | {tn[k]} | {fp[k]}"
        rates = f"{_ratio(tp[k], tp[k] + fn[k])} | {_ratio(tn[k], tn[k] + fp[k])}"
        agree = " | ".join(f"{np.nanmean(dice[m][:, k]):.3f}" for m in methods)
        lines.append(f"| {k + 1} {SEGMENT_NAMES[k]} | {counts} | {rates} | {agree} |")
    all_tp, all_fn, all_tn, all_fp = tp.sum(), fn.sum(), tn.sum(), fp.sum()
    lines.append(
        f"| **all** | {all_tp} | {all_fn} | {all_tn} | {all_fp} | **{_ratio(all_tp, all_tp + all_fn)}** | "
        f"**{_ratio(all_tn, all_tn + all_fp)}** | "
        + " | ".join(f"{np.nanmean(dice[m]):.3f}" for m in methods)
        + " |"
    )
    mi_t, mi_p = truth.any(1), pred.any(1)  # the truth counts every segment, assessed or not
    mi = [(mi_t & mi_p).sum(), (mi_t & ~mi_p).sum(), (~mi_t & ~mi_p).sum(), (~mi_t & mi_p).sum()]
    lines += [
        "",
        (
            f"Recording-level MI (any abnormal segment): TP {mi[0]}, FN {mi[1]}, TN {mi[2]}, FP {mi[3]}; "
            f"sensitivity {_ratio(mi[0], mi[0] + mi[1])}, specificity {_ratio(mi[2], mi[2] + mi[3])} (an MI "
            "confined to unassessable segments counts as missed)."
        ),
    ]
    skipped = [r for r in rows if "skipped" in r]
    if skipped:
        reasons: dict[str, int] = {}
        for r in skipped:
            key = r["skipped"]
            reasons[key] = reasons.get(key, 0) + 1
        lines += ["", "Not analysed: " + "; ".join(f"{v} x {k}" for k, v in reasons.items()) + "."]
    seconds = statistics.median(r["seconds"] for r in done)
    frames = int(np.median([r["frames"] for r in done]))
    lines += [
        "",
        (
            f"Time per clip (centre lines, segments, motion and verdicts, ED..ES, median {frames} frames): median "
            f"{seconds:.3f} s over {len(done)} clips, on a 2-core machine shared with other helpers' jobs."
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=60, help="synthetic patients, one A4C clip each")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--method", default="long_axis", choices=("arc_length", "long_axis"))
    ap.add_argument("--data", type=Path, default=None, help="reuse (or create) the dataset here")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the report to this file")
    args = ap.parse_args()
    command = (
        f"python benchmarks/bench_regional.py --patients {args.patients} --frames {args.frames} "
        f"--size {args.size} --seed {args.seed} --method {args.method}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "synthetic"
        if not (data / "datalist.json").exists():
            t0 = time.perf_counter()
            make_dataset(
                data,
                n_patients=args.patients,
                clips_per_view=args.patients,
                n_frames=args.frames,
                size=args.size,
                seed=args.seed,
                views=["A4C"],
                workers=2,
                figure=False,
            )
            print(f"dataset written in {time.perf_counter() - t0:.1f} s")
        text = report(analyse(data, args.method), command)
    print(text)
    if args.markdown is not None:
        tmp_path = args.markdown.with_name(f".{args.markdown.name}.tmp")
        tmp_path.write_text(text + "\n")
        tmp_path.replace(args.markdown)


if __name__ == "__main__":
    main()
