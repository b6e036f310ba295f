"""Decode speed of a JPEG-baseline echo cine: pydicom's pixel_array versus the fast path.

Builds a 600x800, 70-frame JPEG-baseline YBR_FULL_422 cine with ``write_echo_dicom`` (speckle in a
moving fan, a text block and a green ECG sweep), then times, from the file on disk, median of N runs:

  (a) ``pydicom.dcmread(p).pixel_array`` -> luminance -> resize to 224x224 (the reference path; the
      time of ``pixel_array`` alone is printed too)
  (b) ``read_echo_cine(p, grey=True, size=(224, 224))`` (JPEG draft mode, DCT-domain downscaling)
  (c) as (b) with 2 decoding threads

Usage: python benchmarks/bench_decode.py [--frames 70] [--rows 600] [--cols 800] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from scipy import ndimage

from echo_monai.io.dicom_read import read_echo_cine
from echo_monai.io.dicom_write import write_echo_dicom
from echo_monai.io.frames import convert_frames


def echo_like_cine(n_frames: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: correlated speckle in a beating fan, a text block, a green ECG sweep."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    r = np.hypot(xx - cols / 2, yy - rows * 0.05)
    fan = (np.abs(np.arctan2(xx - cols / 2, yy - rows * 0.05)) < np.deg2rad(38)) & (r < rows * 0.78)
    strip = int(rows * 0.86)
    x = np.arange(cols)
    frames = np.zeros((n_frames, rows, cols, 3), dtype=np.uint8)
    for t in range(n_frames):
        speckle = ndimage.gaussian_filter(rng.rayleigh(0.35, (rows, cols)).astype(np.float32), 1.0) * 1.6
        wall = np.exp(-((r - rows * (0.4 + 0.05 * np.sin(2 * np.pi * t / 35))) / (rows * 0.03)) ** 2)
        grey = (np.clip((0.25 + 0.75 * wall) * speckle * 255, 0, 255) * fan).astype(np.uint8)
        grey[int(rows * 0.02):int(rows * 0.07), int(cols * 0.03):int(cols * 0.25)] = 220
        frame = np.repeat(grey[..., None], 3, axis=-1)
        trace = np.clip((strip + (rows - strip) / 2 - 12 * np.sin(x / 15.0 + t / 5)).astype(int), strip, rows - 1)
        frame[trace, x] = (40, 230, 60)
        frames[t] = frame
    return frames


def _median_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=70)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--cols", type=int, default=800)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = (args.size, args.size)

    with tempfile.TemporaryDirectory() as tmp:
        frames = echo_like_cine(args.frames, args.rows, args.cols)
        path = write_echo_dicom(Path(tmp) / "cine.dcm", frames, np.arange(args.frames) * 1000.0 / 30.0)
        mb = path.stat().st_size / 2**20
        print(f"cine: {args.frames} frames {args.rows}x{args.cols} JPEG baseline YBR_FULL_422, {mb:.1f} MiB")

        def reference() -> np.ndarray:
            return convert_frames(pydicom.dcmread(path).pixel_array, grey=True, size=size)

        def fast(workers: int | None = None) -> np.ndarray:
            return read_echo_cine(path, grey=True, size=size, workers=workers, with_ecg=False).frames

        rows = []
        t_pa, _ = _median_time(lambda: pydicom.dcmread(path).pixel_array, args.repeats)
        t_ref, ref = _median_time(reference, args.repeats)
        rows.append(("(a) pixel_array + grey + resize", t_ref, ref))
        t_fast, out = _median_time(fast, args.repeats)
        rows.append(("(b) fast path, 1 thread", t_fast, out))
        t_fast2, out2 = _median_time(lambda: fast(2), args.repeats)
        rows.append(("(c) fast path, 2 threads", t_fast2, out2))

        print(f"output {args.size}x{args.size} grey, median of {args.repeats} runs")
        print(f"{'path':34s} {'seconds':>8s} {'frames/s':>9s} {'speed-up':>9s} {'mean|diff|':>10s} {'max|diff|':>9s}")
        print(f"{'    of which pixel_array alone':34s} {t_pa:8.3f} {args.frames / t_pa:9.0f}")
        for name, seconds, result in rows:
            diff = np.abs(result.astype(np.int16) - ref)
            print(f"{name:34s} {seconds:8.3f} {args.frames / seconds:9.0f} {t_ref / seconds:8.1f}x "
                  f"{diff.mean():10.2f} {diff.max():9d}")


if __name__ == "__main__":
    main()
