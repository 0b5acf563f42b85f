"""Per-frame latency and peak memory of streaming inference, restricted vs unrestricted memory.

    python benchmarks/inference.py --height 480 --width 854 --frames 600          # GPU
    python benchmarks/inference.py --height 240 --width 427 --frames 100 --device cpu

Runs ``InferenceSession.step`` (predict + memory update + label copied to the host, as the evaluation
does) on a synthetic video with random weights; timing does not depend on the weights. Reports, at
frames 50/100/200/400/..., the mean latency of the preceding window, FPS, peak memory (CUDA max
allocated on a GPU, process RSS on the CPU) and the long-term memory size. Like the command-line
tools, it keeps freed host memory for reuse (``aot_plus.host.keep_freed_memory``). The official code on an
H200 (fp32, 480x854, 2 objects): DeAOT-L + RMem 38.6 FPS, AOT-L + RMem 44.7 FPS, 1.4 / 2.1 GB;
unrestricted AOT-L at gap 5: 7 FPS and 23 GB by frame 600.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import aot_plus  # noqa: E402
from aot_plus.host import keep_freed_memory  # noqa: E402


def synthetic_video(height: int, width: int, count: int = 16, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """A short loop of frames with two moving squares, and the first frame's mask."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    frames, mask = [], np.zeros((height, width), np.uint8)
    size = max(min(height, width) // 5, 4)
    for t in range(count):
        frame = background.copy()
        for obj, colour in enumerate(((220, 40, 40), (40, 200, 220)), start=1):
            y = (height // 4 * obj + 3 * t) % (height - size)
            x = (width // 4 * obj + 5 * t) % (width - size)
            frame[y : y + size, x : x + size] = colour
            if t == 0:
                mask[y : y + size, x : x + size] = obj
        frames.append(frame)
    return frames, mask


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def report_frames(total: int) -> list[int]:
    marks, mark = [], 50
    while mark <= total:
        marks.append(mark)
        mark *= 2
    if not marks or marks[-1] != total:
        marks.append(total)
    return marks


def run_one(model_name: str, memory: str, args: argparse.Namespace, device: torch.device) -> list[dict]:
    model = aot_plus.build_model(model_name).to(device)
    frames, mask = synthetic_video(args.height, args.width)
    session = aot_plus.InferenceSession(
        model, memory=memory, long_term_gap=args.gap, precision=args.precision, cuda_graph=not args.no_cuda_graph
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    session.add_reference(frames[0], mask)
    latencies, rows = [], []
    marks = report_frames(args.frames)
    for t in range(1, args.frames + 1):
        sync(device)
        start = time.perf_counter()
        out = session.step(frames[t % len(frames)])
        _ = out.label  # the evaluation copies every label to the host
        sync(device)
        latencies.append(time.perf_counter() - start)
        if t in marks:
            window = latencies[max(len(latencies) - args.window, args.warmup) :] or latencies[-1:]
            ms = 1000 * float(np.mean(window))
            rows.append(
                {
                    "model": model_name,
                    "memory": memory,
                    "precision": args.precision,
                    "cuda_graph": not args.no_cuda_graph,
                    "frame": t,
                    "ms_per_frame": round(ms, 2),
                    "fps": round(1000 / ms, 1),
                    "peak_memory_mb": round(peak_memory_mb(device), 1),
                    "memory_frames": len(session.memory_frames),
                    "frame_graph": session.frame_replayed,
                }
            )
            print_row(rows[-1])
    del session, model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


HEADER = (
    f"{'model':<11} {'memory':<12} {'prec':<5} {'frame':>6} {'ms/frame':>9} {'FPS':>7} {'peak MB':>9} {'bank':>5} "
    f"{'graph':>5}"
)


def print_row(row: dict) -> None:
    print(
        f"{row['model']:<11} {row['memory']:<12} {row['precision']:<5} {row['frame']:>6} {row['ms_per_frame']:>9.2f} "
        f"{row['fps']:>7.1f} {row['peak_memory_mb']:>9.1f} {row['memory_frames']:>5} "
        f"{'frame' if row['frame_graph'] else '-':>5}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["r50_deaotl", "r50_aotl"])
    p.add_argument("--memories", nargs="+", default=["restricted", "unrestricted"])
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=854)
    p.add_argument("--frames", type=int, default=600)
    p.add_argument("--gap", type=int, default=5)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--window", type=int, default=20, help="frames averaged for each reported latency")
    p.add_argument("--warmup", type=int, default=5, help="first frames never averaged (allocator, cuDNN autotune)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--cudnn-benchmark", action="store_true")
    p.add_argument("--no-cuda-graph", action="store_true", help="run every frame eagerly on the GPU (no CUDA graphs)")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args(argv)
    keep_freed_memory()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; {args.height}x{args.width}, 2 objects, gap {args.gap}, {args.frames} frames")
    print(HEADER)
    rows = []
    for model_name in args.models:
        for memory in args.memories:
            rows += run_one(model_name, memory, args, device)
    if args.json:
        args.json.write_text(
            json.dumps({"device": name, "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
