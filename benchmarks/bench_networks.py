"""Benchmark the view-classification networks on the CPU: size, FLOPs, inference and training speed,
export support, and end-to-end streaming classification with StreamingViewNet.

    .venv/bin/python benchmarks/bench_networks.py            # everything (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_networks.py --only streaming
    .venv/bin/python benchmarks/bench_networks.py --only synthetic --size 64   # learning curve, ~10 min

Timings are medians of ``--runs`` repeats after one warm-up, with ``--threads`` torch threads. The
machine's load average is printed with each table: other processes share the cores.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from echo_monai.networks.cnn_lstm import CNNLSTM
from echo_monai.networks.efficientnet import efficientnet_b2
from echo_monai.networks.frame_attention import FrameAttentionClassifier
from echo_monai.networks.gated import GatedSpatioTemporalNet
from echo_monai.networks.plain3d import Plain3DCNN
from echo_monai.networks.streaming import StreamingViewNet
from echo_monai.networks.video_resnet import R2Plus1D, ResNet3D
from echo_monai.networks.video_vit import VideoViT

FRAMES, SIZE = 16, 112  # the demo clip: 16 frames of 112 x 112 grey


@dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one sample, without the batch axis
    frames_per_sample: int
    video: bool = True


def cases() -> list[Case]:
    clip = (1, FRAMES, SIZE, SIZE)
    return [
        Case(
            "efficientnet_b2 (1 frame, 224 px)", lambda: efficientnet_b2(1, 11), (1, 224, 224), 1, video=False
        ),
        Case(
            "efficientnet_b2 (1 frame, 112 px)",
            lambda: efficientnet_b2(1, 11),
            (1, SIZE, SIZE),
            1,
            video=False,
        ),
        Case("GatedSpatioTemporalNet (small-cnn)", lambda: GatedSpatioTemporalNet(1, 11), clip, FRAMES),
        Case(
            "GatedSpatioTemporalNet (efficientnet-b2)",
            lambda: GatedSpatioTemporalNet(1, 11, encoder="efficientnet-b2"),
            clip,
            FRAMES,
        ),
        Case("StreamingViewNet", lambda: StreamingViewNet(1, 11), clip, FRAMES),
        Case("CNNLSTM (small-cnn)", lambda: CNNLSTM(1, 11), clip, FRAMES),
        Case("FrameAttentionClassifier (small-cnn)", lambda: FrameAttentionClassifier(1, 11), clip, FRAMES),
        Case("R2Plus1D (widths 16-128)", lambda: R2Plus1D(1, 11), clip, FRAMES),
        Case("ResNet3D (widths 16-128)", lambda: ResNet3D(1, 11), clip, FRAMES),
        Case("Plain3DCNN", lambda: Plain3DCNN(1, 11), clip, FRAMES),
        Case(
            "Plain3DCNN (view bundle default: 2 convs/stage, 4x4 grid; 8 frames, 64 px)",
            lambda: Plain3DCNN(1, 11, convs_per_stage=2, spatial_pool=4, dropout=0.3),
            (1, 8, 64, 64),
            8,
        ),
        Case(
            "VideoViT (patch 2x16x16)", lambda: VideoViT(1, 11, img_size=(FRAMES, SIZE, SIZE)), clip, FRAMES
        ),
    ]


def interleaved_times(fns: list[Callable[[], object]], runs: int) -> list[tuple[float, float]]:
    """(median, best) seconds per function over ``runs`` rounds, after one warm-up call each.

    Rounds visit every function in turn, so a burst of load from other processes on a shared machine
    slows all of them alike instead of whichever happened to be measured at the time. The best run is
    the closest to the unloaded speed; the median is what a user sharing the machine gets.
    """
    for fn in fns:
        fn()  # warm-up: allocator, oneDNN kernel selection
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [(statistics.median(t), min(t)) for t in times]


def count_flops(net: nn.Module, x: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return counter.get_total_flops() / x.shape[0]


def export_support(net: nn.Module, x: torch.Tensor) -> tuple[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.jit.script(net)
            jit = "script"
        except Exception:  # noqa: BLE001 - the kind of failure is what we record
            try:
                torch.jit.trace(net, x)
                jit = "trace only"
            except Exception:  # noqa: BLE001
                jit = "no"
        try:
            torch.onnx.export(
                net, (x,), io.BytesIO(), dynamo=False, input_names=["image"], output_names=["pred"]
            )
            onnx = "yes"
        except Exception as err:  # noqa: BLE001
            onnx = f"no ({type(err).__name__})"
    return jit, onnx


def load_note() -> str:
    one, five, _ = os.getloadavg()
    cores = os.cpu_count()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {cores} cores, shared with other jobs"


def bench_networks(runs: int, train_batch: int, with_export: bool) -> None:
    print(
        f"\n## Networks: eager CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"median (best) of {runs} interleaved rounds"
    )
    print(f"_{load_note()} (at the start)_\n")
    rows, infer_fns, train_fns = [], [], []
    for case in cases():
        torch.manual_seed(0)
        net = case.build().eval()
        batch = 1 if case.video else 8
        x = torch.rand(batch, *case.input_shape)
        params = sum(p.numel() for p in net.parameters()) / 1e6
        flops = count_flops(net, x[:1])
        jit, onnx = export_support(net, x[:1]) if with_export else ("-", "-")
        rows.append((case, params, flops, jit, onnx, batch))

        def infer(net=net, x=x) -> None:
            net.eval()
            with torch.inference_mode():
                net(x)

        infer_fns.append(infer)
        if case.video:
            opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
            xb = torch.rand(train_batch, *case.input_shape)
            yb = torch.randint(0, 11, (train_batch,))

            def step(net=net, opt=opt, xb=xb, yb=yb) -> None:
                net.train()
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(net(xb), yb).backward()
                opt.step()

            train_fns.append(step)
    infer_times = interleaved_times(infer_fns, runs)
    train_times = iter(interleaved_times(train_fns, runs))
    print(
        "| network | input (per sample) | params (M) | GFLOP / sample "
        "| inference ms / sample, median (best) | frames/s, median (best) "
        f"| train step ms / clip, batch {train_batch}, median (best) | TorchScript | ONNX |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (case, params, flops, jit, onnx, batch), (t_med, t_best) in zip(rows, infer_times):
        t_med, t_best = t_med / batch, t_best / batch
        frames = case.frames_per_sample
        train = "-"
        if case.video:
            s_med, s_best = next(train_times)
            train = f"{1000 * s_med / train_batch:.0f} ({1000 * s_best / train_batch:.0f})"
        shape = "x".join(str(s) for s in case.input_shape)
        print(
            f"| {case.name} | {shape} | {params:.2f} | {flops / 1e9:.2f} "
            f"| {1000 * t_med:.1f} ({1000 * t_best:.1f}) | {frames / t_med:.0f} ({frames / t_best:.0f}) "
            f"| {train} | {jit} | {onnx} |"
        )
    print(f"\n_{load_note()} (at the end)_", flush=True)


def bench_streaming(n_frames: int, threads: int) -> None:
    torch.set_num_threads(threads)
    print(f"\n## Streaming: StreamingViewNet.step on decoded uint8 frames, {threads} thread(s)")
    print(f"_{load_note()}_\n")
    print("| decoded frame | frames | throughput (frames/s) | latency median (ms) | p95 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|")
    torch.manual_seed(0)
    net = StreamingViewNet(1, 11).eval()
    rng = np.random.default_rng(0)
    inputs = {
        "grey 300x400 (fast JPEG draft decode)": rng.integers(0, 256, (n_frames, 300, 400), dtype=np.uint8),
        "RGB 600x800 (full decode)": rng.integers(0, 256, (n_frames, 600, 800, 3), dtype=np.uint8),
        "grey 112x112 (already resized)": rng.integers(0, 256, (n_frames, 112, 112), dtype=np.uint8),
    }
    for label, frames in inputs.items():
        net.reset()
        for frame in frames[:10]:  # warm-up
            net.step(frame)
        net.reset()
        latencies = []
        start = time.perf_counter()
        for frame in frames:
            t0 = time.perf_counter()
            probs = net.step(frame)
            latencies.append(time.perf_counter() - t0)
        total = time.perf_counter() - start
        assert probs.shape == (11,)
        lat = np.array(latencies) * 1000
        print(
            f"| {label} | {n_frames} | {n_frames / total:.0f} | {np.median(lat):.2f} | "
            f"{np.percentile(lat, 95):.2f} | {lat.max():.2f} |",
            flush=True,
        )


def synthetic_views(n_per_view: int, seed: int, frames: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of all 11 views of ``n_per_view`` synthetic patients.

    Returns: clips (N, 1, frames, size, size) in [0, 1] and view labels (N,).
    """
    import torch.nn.functional as F

    from echo_monai.synthetic.anatomy import random_heart
    from echo_monai.synthetic.generator import random_settings, render_clip
    from echo_monai.views import VIEW_NAMES

    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for _ in range(n_per_view):
        heart = random_heart(rng)
        for label, view in enumerate(VIEW_NAMES):
            settings = random_settings(view, rng, n_frames=frames, size=(128, 128), ecg_form="none")
            settings.annotate = False
            grey = torch.from_numpy(render_clip(settings, heart).frames.astype(np.float32) / 255.0)
            if grey.ndim == 4:
                grey = grey.mean(dim=-1)
            grey = F.interpolate(grey[:, None], size=(size, size), mode="bilinear", antialias=True)
            clips.append(grey.transpose(0, 1))
            labels.append(label)
    return torch.stack(clips), torch.tensor(labels)


def bench_synthetic_training(
    model: str, size: int, frames: int, epochs: int, n_train: int, n_val: int
) -> None:
    """Learning curve of a video model on synthetic clips (train and validation patients differ)."""
    print(
        f"\n## Training on synthetic clips: {model}, {frames} x {size} x {size}, "
        f"{torch.get_num_threads()} threads"
    )
    t0 = time.perf_counter()
    x_train, y_train = synthetic_views(n_train, 1, frames, size)
    x_val, y_val = synthetic_views(n_val, 2, frames, size)
    print(
        f"_{len(y_train)} training / {len(y_val)} validation clips (11 views; {n_train} / {n_val} patients) "
        f"rendered in {time.perf_counter() - t0:.0f} s; AdamW lr 2e-3, batch 8, gain augmentation; "
        f"{load_note()}_\n"
    )
    torch.manual_seed(0)
    net = {
        "gated-light": lambda: GatedSpatioTemporalNet(
            1, 11, encoder_widths=(16, 32, 64, 96), temporal_channels=64
        ),
        "gated": lambda: GatedSpatioTemporalNet(1, 11),
        "streaming": lambda: StreamingViewNet(1, 11, image_size=size),
    }[model]()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    print("| epoch | training time (s, cumulative) | s / clip | validation accuracy | mean gate |")
    print("|---|---|---|---|---|")
    train_time = 0.0
    for epoch in range(1, epochs + 1):
        net.train()
        start = time.perf_counter()
        for idx in torch.randperm(len(y_train)).split(8):
            x = x_train[idx] * (0.8 + 0.4 * torch.rand(len(idx), 1, 1, 1, 1))
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), y_train[idx]).backward()
            opt.step()
        train_time += time.perf_counter() - start
        net.eval()
        with torch.inference_mode():
            logits, gates = [], []
            for chunk in x_val.split(16):
                logits.append(net(chunk))
                gates.append(
                    net.last_gate
                    if isinstance(net, GatedSpatioTemporalNet)
                    else torch.full((len(chunk),), -1.0)
                )
        accuracy = (torch.cat(logits).argmax(1) == y_val).float().mean().item()
        gate = torch.cat(gates).mean().item()
        gate_text = f"{gate:.2f}" if gate >= 0 else "-"
        print(
            f"| {epoch} | {train_time:.0f} | {train_time / (epoch * len(y_train)):.3f} "
            f"| {accuracy:.3f} | {gate_text} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--stream-frames", type=int, default=300)
    parser.add_argument(
        "--stream-threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread counts for the streaming test (1 leaves a core for decoding)",
    )
    parser.add_argument(
        "--only",
        choices=("networks", "streaming", "synthetic"),
        default=None,
        help="one part; the default runs networks and streaming (synthetic training is opt-in)",
    )
    parser.add_argument("--model", choices=("gated-light", "gated", "streaming"), default="gated-light")
    parser.add_argument("--size", type=int, default=SIZE, help="synthetic training: frame size (px)")
    parser.add_argument("--frames", type=int, default=FRAMES, help="synthetic training: frames per clip")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--patients", type=int, nargs=2, default=(30, 10), help="training / validation patients"
    )
    parser.add_argument("--no-export", action="store_true", help="skip the TorchScript / ONNX columns")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only in (None, "networks"):
        bench_networks(args.runs, args.train_batch, not args.no_export)
    if args.only in (None, "streaming"):
        for threads in args.stream_threads:
            bench_streaming(args.stream_frames, threads)
    if args.only == "synthetic":
        torch.set_num_threads(args.threads)
        bench_synthetic_training(args.model, args.size, args.frames, args.epochs, *args.patients)


if __name__ == "__main__":
    main()
