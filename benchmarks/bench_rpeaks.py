"""R-peak detection: ``echo_monai.ecg.rpeaks.detect_r_peaks`` versus ``neurokit2.ecg_peaks``.

1. MIT-BIH Arrhythmia records (lead 0) against the cardiologists' beat annotations (beat symbols only),
   ANSI/AAMI EC57 matching within 150 ms: sensitivity Se, positive predictivity +P, median and 95th
   percentile |detection - reference| (ms) and seconds per record (median of ``--repeats`` runs).
   neurokit2 runs its documented pipeline, ``ecg_clean`` then ``ecg_peaks`` (both timed).
2. Synthetic ECG (``echo_monai.synthetic.ecg``) with noise, baseline wander, PVCs, inverted leads and
   tall T waves at 128/250/500/1000 Hz and 45-150 bpm, against the exactly known R times.

Usage: python benchmarks/bench_rpeaks.py [--data-dir DIR] [--records 100 102 103 104 107] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from echo_monai.ecg.rpeaks import detect_r_peaks, match_beats
from echo_monai.ecg.wfdb_format import BEAT_SYMBOLS, read_wfdb_annotations, read_wfdb_record
from echo_monai.synthetic.ecg import synthetic_ecg

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mitbih-dev"

SYNTHETIC_CASES: dict[str, dict] = {
    "clean": {"noise_mv": 0.01, "baseline_wander_mv": 0.05},
    "noise 0.1 mV + wander 0.5 mV": {"noise_mv": 0.1, "baseline_wander_mv": 0.5},
    "PVCs 15 %": {"ectopic_prob": 0.15},
    "inverted lead": {"invert": True},
    "inverted + PVCs + noise 0.1 mV": {"invert": True, "ectopic_prob": 0.15, "noise_mv": 0.1},
    "T waves x4": {"t_wave_scale": 4.0},
    "mains 0.2 mV": {"powerline_mv": 0.2},
}


def ours(x: np.ndarray, fs: float) -> np.ndarray:
    return detect_r_peaks(x, fs).indices


def neurokit(x: np.ndarray, fs: float) -> np.ndarray:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = nk.ecg_clean(x, sampling_rate=round(fs))
        _, info = nk.ecg_peaks(cleaned, sampling_rate=round(fs))
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


DETECTORS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "echo_monai detect_r_peaks": ours,
    "neurokit2 ecg_clean+ecg_peaks": neurokit,
}


def _timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], np.zeros(0)
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _row(tp: int, fn: int, fp: int, errors: np.ndarray) -> str:
    se = 100.0 * tp / max(tp + fn, 1)
    pp = 100.0 * tp / max(tp + fp, 1)
    e = np.abs(errors)
    med = f"{np.median(e):.1f}" if len(e) else "-"
    p95 = f"{np.percentile(e, 95):.1f}" if len(e) else "-"
    return f"{tp} | {fn} | {fp} | {se:.2f} | {pp:.2f} | {med} | {p95}"


def bench_mitbih(data_dir: Path, records: list[str], repeats: int) -> None:
    print("## MIT-BIH Arrhythmia, lead 0, 150 ms matching, beat annotations only\n")
    print(
        "| record | detector | TP | FN | FP | Se % | +P % | median abs error ms | p95 abs error ms | s / record |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    pooled = {name: [0, 0, 0, [], []] for name in DETECTORS}
    for rec in records:
        signal, fs, names = read_wfdb_record(data_dir / rec)
        samples, symbols = read_wfdb_annotations(data_dir / rec)
        reference = samples[np.isin(symbols, list(BEAT_SYMBOLS))]
        for name, detector in DETECTORS.items():
            seconds, peaks = _timed(lambda d=detector, x=signal[0], f=fs: d(x, f), repeats)
            m = match_beats(peaks, reference, fs)
            acc = pooled[name]
            acc[0] += m.tp
            acc[1] += m.fn
            acc[2] += m.fp
            acc[3].append(m.errors_ms)
            acc[4].append(seconds)
            print(f"| {rec} ({names[0]}) | {name} | {_row(m.tp, m.fn, m.fp, m.errors_ms)} | {seconds:.3f} |")
    for name, (tp, fn, fp, errs, secs) in pooled.items():
        row = _row(tp, fn, fp, np.concatenate(errs))
        print(f"| **pooled** | {name} | {row} | {statistics.median(secs):.3f} (median) |")
    print()


def bench_synthetic(seconds: float) -> None:
    print(f"## Synthetic ECG, {seconds:g} s per heart rate (45, 70, 100, 150 bpm), known R times\n")
    print("Cell: Se % / +P % / median abs error ms, pooled over the four heart rates.\n")
    rates = (128.0, 250.0, 500.0, 1000.0)
    print("| case | detector | " + " | ".join(f"{fs:g} Hz" for fs in rates) + " |")
    print("|---|---|" + "---|" * len(rates))
    for case, kwargs in SYNTHETIC_CASES.items():
        for name, detector in DETECTORS.items():
            cells = []
            for fs in rates:
                tp = fn = fp = 0
                errs = []
                for k, hr in enumerate((45.0, 70.0, 100.0, 150.0)):
                    ecg = synthetic_ecg(seconds, fs, hr, rng=1000 + k, **kwargs)
                    reference = ecg.r_times_s[ecg.in_clip]
                    peaks = detector(ecg.signal, fs)
                    m = match_beats(peaks * (1000.0 / fs), reference * 1000.0, 1000.0)
                    tp, fn, fp = tp + m.tp, fn + m.fn, fp + m.fp
                    errs.append(m.errors_ms)
                e = np.abs(np.concatenate(errs))
                cells.append(
                    f"{100 * tp / (tp + fn):.1f} / {100 * tp / max(tp + fp, 1):.1f} / {np.median(e):.1f}"
                )
            print(f"| {case} | {name} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--records", nargs="+", default=["100", "102", "103", "104", "107"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic-seconds", type=float, default=120.0)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)\n")
    if (args.data_dir / f"{args.records[0]}.hea").exists():
        bench_mitbih(args.data_dir, args.records, args.repeats)
    else:
        print(f"MIT-BIH records not found in {args.data_dir}: skipping that part\n")
    bench_synthetic(args.synthetic_seconds)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
