"""The demo: the main job of echo_monai on built-in synthetic data, in about ten minutes on 2 cores.

    python -m echo_monai.demo --output-dir demo_output

Steps (each writes under the output folder and is listed in ``SUMMARY.md`` there):

1. a synthetic echo dataset of the 11 views as real DICOM files (``synthetic/``);
2. ECG gating of every clip, compared with the generator's true end-diastolic frames, and one gating
   figure per ECG form (``figures/gating_*.png``, ``metrics/gating.json``);
3. view classification and LV wall segmentation bundles trained and evaluated on it, where their steps
   are available (``view_classification/``, ``wall_segmentation/``).

Re-running reuses a dataset written by an earlier run with the same settings and never touches files
outside the output folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["main", "run_demo"]

logger = logging.getLogger("echo_monai.demo")

#: Dataset settings of the full demo and of ``--quick`` (used by the tests).
# 50 clips per view from 60 patients: the default video model needs a few hundred training clips to tell the
# views apart on patients it has not seen (benchmarks/results/view_training.md); 32 frames hold 2-3 beats.
FULL = {"n_patients": 60, "clips_per_view": 50, "n_frames": 32, "size": 128}
# Six clips per view dealt to six patients in turn: every split holds every view (the wall step needs A4C).
QUICK = {"n_patients": 6, "clips_per_view": 6, "n_frames": 40, "size": 96}
#: Clips of each ECG form whose gating the demo checks against the truth.
GATING_CLIPS_PER_FORM = 20


def _dataset(out: Path, settings: dict, seed: int) -> tuple[Path, dict]:
    from echo_monai.synthetic.dataset import make_dataset

    data_dir = out / "synthetic"
    stamp = data_dir / "demo_settings.json"
    wanted = dict(settings, seed=seed)
    if stamp.exists() and json.loads(stamp.read_text()) == wanted and (data_dir / "datalist.json").exists():
        logger.info("reusing the synthetic dataset in %s", data_dir)
        return data_dir, json.loads((data_dir / "datalist.json").read_text())
    if data_dir.exists() and any(data_dir.iterdir()):
        # Written by an earlier demo with other settings: make_dataset refuses to write into a folder it did
        # not create, and it will only overwrite its own output.
        logger.info("rewriting the synthetic dataset in %s with new settings", data_dir)
    datalist = make_dataset(data_dir, seed=seed, **settings)
    stamp.write_text(json.dumps(wanted))
    return data_dir, datalist


def _gating(out: Path, data_dir: Path, datalist: dict) -> dict:
    from echo_monai.errors import EchoDataError
    from echo_monai.evaluation.gating import evaluate_gating, write_gating_report
    from echo_monai.visualize.gating import gating_figure_for_file

    items = [item for split in datalist.values() for item in split]
    # Gating every clip of the full dataset would take minutes of the demo's budget: a fixed sample of
    # each ECG form shows the same picture (benchmarks/bench_gating.py measures all of them).
    per_form: dict[str, list[dict]] = {}
    for item in items:
        per_form.setdefault(item["ecg_form"], []).append(item)
    sample = [item for group in per_form.values() for item in group[:GATING_CLIPS_PER_FORM]]
    report = evaluate_gating(data_dir, sample)
    write_gating_report(report, out / "metrics" / "gating.json")
    figures = []
    for form in sorted({item["ecg_form"] for item in items}):
        item = next(i for i in items if i["ecg_form"] == form)
        fig = out / "figures" / f"gating_{form}.png"
        try:
            gating_figure_for_file(data_dir / item["image"], fig)
            figures.append(fig)
        except EchoDataError as exc:  # a figure must not stop the demo; say why it is missing
            logger.warning("no gating figure for %s (%s)", item["image"], exc)
    return {"report": report, "figures": figures}


def run_demo(output_dir: str | os.PathLike, *, quick: bool = False, seed: int = 0, train: bool = True) -> Path:
    """Run the demo; returns the path of ``SUMMARY.md``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# echo_monai demo", ""]
    t0 = time.perf_counter()

    settings = QUICK if quick else FULL
    print(f"[1/3] synthetic dataset: 11 views x {settings['clips_per_view']} clips, "
          f"{settings['n_frames']} frames at {settings['size']} px ...", flush=True)
    data_dir, datalist = _dataset(out, settings, seed)
    counts = {k: len(v) for k, v in datalist.items()}
    print(f"      wrote {sum(counts.values())} DICOM cines ({counts}) to {data_dir} "
          f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    lines += ["## 1. Synthetic dataset", "", f"- folder: `{data_dir}` ({counts})",
              f"- preview: `{data_dir / 'figures' / 'views_ed_es.png'}`", ""]

    print("[2/3] ECG gating of every clip, against the true ED frames ...", flush=True)
    gating = _gating(out, data_dir, datalist)
    lines += ["## 2. ECG gating (true ED frame found)", "",
              "| ECG form | clips | exact | within 1 frame | within 2 frames | missed | sources used |",
              "|---|---|---|---|---|---|---|"]
    for form, r in sorted(gating["report"].items()):
        lines.append(f"| {form} | {r['clips']} | {r['exact']:.1%} | {r['within_1']:.1%} | {r['within_2']:.1%} "
                     f"| {r['missed']:.1%} | {r['sources_used']} |")
        print(f"      {form:14s} exact {r['exact']:.1%}  within 1 frame {r['within_1']:.1%}  "
              f"({r['clips']} clips)", flush=True)
    lines += ["", *[f"- figure: `{f}`" for f in gating["figures"]], f"- metrics: `{out / 'metrics/gating.json'}`", ""]

    print("[3/3] model training ...", flush=True)
    lines += _train_steps(out, data_dir, quick=quick, seed=seed) if train else ["(training skipped)", ""]

    lines += [f"Total time: {time.perf_counter() - t0:.0f} s", ""]
    summary = out / "SUMMARY.md"
    summary.write_text("\n".join(lines))
    print(f"done in {time.perf_counter() - t0:.0f} s: figures and metrics under {out.resolve()} "
          f"(see {summary})", flush=True)
    return summary


#: Training budgets (minutes) of the full demo; ``--quick`` trains one short epoch of each. Each run stops
#: at its budget or its epoch cap, whichever comes first (the best validated checkpoint is kept).
BUDGET_MINUTES = {"video": 3.0, "image": 3.0, "wall": 2.5}
# The one-cycle learning-rate schedule spans max_epochs: a run the time budget cuts short ends at a high rate,
# so the caps are what fits the budgets on 2 idle cores.
MAX_EPOCHS = {"video": 30, "image": 25}
#: The view pairs that need time to tell apart (REFERENCE section 1).
TIME_PAIRS = (("A4C", "A5C"), ("PSAX-mid", "PSAX-apical"), ("A2C", "A3C"))


def _real_cine_folder(out: Path) -> Path | None:
    """A folder holding pydicom's real SonoSite cardiac cine (an apical four-chamber clip), to classify."""
    from pydicom.data import get_testdata_file

    source = get_testdata_file("examples_ybr_color.dcm")  # ships with pydicom: no download
    if source is None:
        return None
    folder = out / "real_cine"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "pydicom_examples_ybr_color.dcm"
    if not target.exists():
        target.write_bytes(Path(source).read_bytes())
    return folder


def _view_lines(name: str, result: dict) -> list[str]:
    clip = result["metrics"]["clip"]["mean"]
    per = clip["per_class"]
    pairs = ", ".join(f"{a} {per[a]['f1']:.2f} / {b} {per[b]['f1']:.2f}" for a, b in TIME_PAIRS if a in per and b in per)
    row = (f"| {name} | {clip['n']} | {clip['micro_f1']:.3f} | {clip['macro_f1']:.3f} | {pairs} | "
           f"{result['epochs']} | {result['train_seconds']:.0f} s |")
    return [row]


def _real_cine_lines(predictions: Path) -> list[str]:
    """What the video model, trained on synthetic data only, calls the real SonoSite cine."""
    table = predictions / "clip_predictions.csv"
    if not table.is_file():
        return [f"- real SonoSite cine: no prediction written (see `{predictions}`)"]
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [f"- real cine `{row['clip']}` (pydicom's SonoSite apical four-chamber clip), model trained on synthetic "
            f"data only: predicted **{row['predicted_view']}** (p = {float(row['probability']):.2f}; "
            f"A4C p = {float(row['p_A4C']):.2f}; gating source: {row['ecg_source']})" for row in rows]


def _train_steps(out: Path, data_dir: Path, *, quick: bool, seed: int) -> list[str]:
    """Train and evaluate the view classifier (video and image model) and the LV wall segmentation."""
    import torch

    from echo_monai.inference.demo import run_view_demo
    from echo_monai.inference.wall_demo import run_wall_demo

    # Threads for the cores that are idle now: on a busy 2-core machine two threads per process fought the
    # other jobs' threads and made epochs 4x slower than one (benchmarks/results/view_training.md), so the
    # time-budgeted runs trained for a single epoch.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # no load average: assume one idle core
    idle = 1 if load is None else (os.cpu_count() or 1) - int(load + 0.5)
    threads = max(1, min(torch.get_num_threads(), idle))
    torch.set_num_threads(threads)
    print(f"      {threads} thread(s) for training" + ("" if load is None else f" (load average {load:.1f})"),
          flush=True)

    lines = ["## 3. View classification (held-out synthetic test patients, clip level)", "",
             "| model | clips | micro-F1 | macro-F1 | F1 of the pairs that need time | epochs | training |",
             "|---|---|---|---|---|---|---|"]
    real = _real_cine_folder(out)
    runs = {}
    for kind in ("video", "image"):
        print(f"      view classification, {kind} model ...", flush=True)
        runs[kind] = run_view_demo(data_dir, out / "view_classification" / kind, minutes=BUDGET_MINUTES[kind],
                                   max_epochs=1 if quick else MAX_EPOCHS[kind], image_model=kind == "image",
                                   infer_dir=real if kind == "video" else None,
                                   # 64 px (the bundle default is 96) so that both models fit their 3 min
                                   overrides={"seed": seed, "image_size": [64, 64],
                                              **({"batch_size": 4} if quick else {})},
                                   explain_samples=4 if kind == "video" else 0)
        lines += _view_lines(f"{kind} ({'EfficientNet-b2, gated frames' if kind == 'image' else 'default'})",
                             runs[kind])
        m = runs[kind]["metrics"]["clip"]["mean"]
        print(f"      {kind}: test micro-F1 {m['micro_f1']:.3f} in {runs[kind]['train_seconds']:.0f} s", flush=True)
    for kind, run in runs.items():
        lines.append(f"- {kind}: confusion matrices, predictions and metrics in `{run['paths']['evaluation']}`")
    if "explanations" in runs["video"]["paths"]:
        explain = Path(runs["video"]["paths"]["explanations"])
        lines.append(f"- video: why it called each view: saliency maps (Guided Grad-CAM, frame strips and GIFs) of "
                     f"the first test clips in `{explain}`, first-layer filters in `{explain / 'filters'}`")
    if "predictions" in runs["video"]["paths"]:
        lines += _real_cine_lines(Path(runs["video"]["paths"]["predictions"]))
    lines.append("")

    print("      LV wall segmentation ...", flush=True)
    wall = run_wall_demo(data_dir, out / "wall_segmentation", quick=quick, seed=seed,
                         minutes=None if quick else BUDGET_MINUTES["wall"])
    lines += ["## 4. LV wall segmentation (A4C)", "", *wall["summary_lines"], ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m echo_monai.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="demo_output", help="where everything goes (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny dataset and short training (for tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-train", action="store_true", help="data and gating only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run_demo(args.output_dir, quick=args.quick, seed=args.seed, train=not args.no_train)
    return 0


if __name__ == "__main__":
    sys.exit(main())
