#!/usr/bin/env python
"""Long fuzzing run of the DICOM cine reader and the ECG chain (the CI suite runs a bounded version).

    python benchmarks/bench_fuzz.py --examples 2000 --seed 1

Three targets: mutated bytes of a valid small JPEG cine with an ECG waveform, mutated tag values of the
same cine (timing, geometry, pixel module, regions, waveform), and arbitrary / damaged ECG arrays with
any sampling rate. Every call is checked for the properties of ``echo_monai.testing.fuzz``: only
EchoDataError / ECGError / ValueError escape, within a time limit and a peak-RSS growth limit. Prints
one row per target and the distinct violations and bare ValueErrors found.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings

from echo_monai.testing.fuzz import (
    FuzzBudget,
    Outcome,
    PropertyViolation,
    apply_tag_mutations,
    base_cine_bytes,
    check_dicom_bytes,
    check_ecg,
    dicom_byte_mutations,
    dicom_tag_mutations,
    ecg_inputs,
)


def _signature(message: str) -> str:
    """A message with numbers and quoted values blanked, so that one bug is counted once."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d+(\.\d+)?", "N", message)[:140]


def run_target(name: str, examples: int, rng_seed: int, budget: FuzzBudget, workdir: str) -> tuple[list[Outcome], int, float]:
    record: list[Outcome] = []
    count = [0]
    opts = settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))

    def guarded(fn, *args) -> None:
        count[0] += 1
        try:
            fn(*args, budget=budget, record=record)
        except PropertyViolation:
            pass  # recorded; keep going so that one bug does not hide the next

    if name == "dicom bytes":
        @seed(rng_seed)
        @opts
        @given(dicom_byte_mutations(base_cine_bytes()))
        def target(data):
            guarded(lambda d, budget, record: check_dicom_bytes(d, workdir, budget, record), data)
    elif name == "dicom tags":
        @seed(rng_seed)
        @opts
        @given(dicom_tag_mutations())
        def target(changes):
            data = apply_tag_mutations(base_cine_bytes(), changes)
            if data is not None:
                guarded(lambda d, budget, record: check_dicom_bytes(d, workdir, budget, record), data)
    else:
        @seed(rng_seed)
        @opts
        @given(ecg_inputs())
        def target(inp):
            guarded(check_ecg, *inp)

    t0 = time.perf_counter()
    target()
    return record, count[0], time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="examples per target (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", nargs="+", default=["dicom bytes", "dicom tags", "ecg"])
    parser.add_argument("--seconds", type=float, default=10.0, help="per-call time limit")
    parser.add_argument("--peak-mb", type=float, default=256.0, help="per-call peak-RSS growth limit")
    args = parser.parse_args(argv)
    budget = FuzzBudget(seconds=args.seconds, peak_mb=args.peak_mb)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"fuzz: {args.examples} examples per target, seed {args.seed}, limits {args.seconds} s and "
          f"{args.peak_mb:.0f} MB peak-RSS growth per call, {os.cpu_count()} CPUs (shared)\n")
    print("| target | examples run | calls | ok | EchoDataError | bare ValueError | violations | wall s | "
          "median ms/call | max s/call | max peak-RSS growth MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    findings: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.targets:
            record, examples, wall = run_target(name, args.examples, args.seed, budget, workdir)
            kinds = Counter(o.kind for o in record)
            secs = np.array([o.seconds for o in record]) if record else np.zeros(1)
            peak = max((o.peak_mb for o in record), default=0.0)
            print(f"| {name} | {examples} | {len(record)} | {kinds['ok']} | {kinds['EchoDataError']} | "
                  f"{kinds['bare ValueError']} | {kinds['violation']} | {wall:.0f} | {1000 * np.median(secs):.1f} | "
                  f"{secs.max():.2f} | {peak:.0f} |", flush=True)
            findings[name] = Counter(f"{o.kind}: {o.label}: {_signature(o.message)}" for o in record
                                     if o.kind in ("violation", "bare ValueError"))
    for name, found in findings.items():
        if found:
            print(f"\n{name}: distinct violations and bare ValueErrors (count, signature)")
            for text, n in found.most_common(20):
                print(f"  {n:5d}  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
