"""Memory of the demo over a long video: the process's RSS at frame 1,000 and 10,000 should be the same.

    python benchmarks/demo_memory.py                       # 10,000 frames of 64x80, AOT-T, CPU
    python benchmarks/demo_memory.py --frames 2000 --out /tmp/demo_memory.md

Writes a video with OpenCV (``mp4v``, a square moving over noise) and its first mask into a temporary
folder, runs ``aot_plus.demo`` on it in this process (random-init AOT-T, restricted memory, long-term
gap 5, so that the bank is full and evicts from frame 45 on and the memory events keep growing), and
reads the resident set size (``VmRSS`` of ``/proc/self/status``) after given frames. Every output of the
demo is written as usual (masks, overlay, memory log, timeline). Prints a markdown table and writes it
to ``--out`` (default ``benchmarks/results/demo_memory_cpu.md``).

``--threads`` (default 1) sets torch's CPU threads: on the shared 2-core development machine two OpenMP
threads wait on each other whenever another job holds a core, and run 5-20x slower than one (the
memory does not depend on it).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))
import torch  # noqa: E402

from aot_plus import demo  # noqa: E402
from evaluation.palette import save_index_png  # noqa: E402

HEIGHT, WIDTH = 64, 80
SQUARE = 16
GAP = 5


def rss_mib() -> float:
    """Resident set size of this process now, from ``/proc/self/status`` (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def frame(t: int, rng: np.random.Generator) -> np.ndarray:
    """BGR noise with a square bouncing left and right."""
    image = rng.integers(0, 120, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    x = abs((t % (2 * (WIDTH - SQUARE))) - (WIDTH - SQUARE))
    image[20 : 20 + SQUARE, x : x + SQUARE] = (40, 200, 230)
    return image


def write_video(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (WIDTH, HEIGHT))
    rng = np.random.default_rng(0)
    for t in range(frames):
        writer.write(frame(t, rng))
    writer.release()


def first_mask(path: Path) -> None:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    x = WIDTH - SQUARE
    mask[20 : 20 + SQUARE, x : x + SQUARE] = 1
    save_index_png(path, mask)


def measure(frames: int, marks: list[int], work: Path) -> tuple[list[tuple[int, float, float]], demo.DemoSummary]:
    """(frame, RSS MiB, seconds since the start) after each of ``marks`` (1-based frame counts)."""
    video, mask = work / "long.mp4", work / "first.png"
    write_video(video, frames)
    first_mask(mask)
    args = demo.build_parser().parse_args(
        ["--video", str(video), "--mask", str(mask), "--model", "aott", "--random-init", "--device", "cpu"]
        + ["--long-term-gap", str(GAP), "--out", str(work / "out")]
    )
    readings: list[tuple[int, float, float]] = []
    start = time.perf_counter()

    def on_frame(position: int) -> None:
        if position + 1 in marks:
            readings.append((position + 1, rss_mib(), time.perf_counter() - start))

    summary = demo.segment(args, on_frame)
    return readings, summary


def table(readings: list[tuple[int, float, float]], frames: int, summary: demo.DemoSummary) -> str:
    reference = next((rss for mark, rss, _ in readings if mark == 1000), readings[0][1])
    rows = [
        "| frame | RSS (MiB) | change since frame 1,000 (MiB) | seconds since the start |",
        "|---:|---:|---:|---:|",
    ]
    rows += [f"| {mark:,} | {rss:.1f} | {rss - reference:+.1f} | {seconds:.0f} |" for mark, rss, seconds in readings]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join(
        [
            "# Demo memory over a long video (`benchmarks/demo_memory.py`)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
            f"{platform.python_version()}, torch {torch.__version__}, OpenCV {cv2.__version__}.",
            "",
            f"`python -m aot_plus.demo` on a generated {frames:,}-frame {WIDTH}x{HEIGHT} mp4 (mp4v), AOT-T with "
            f"random weights (`--random-init`), CPU ({torch.get_num_threads()} torch thread(s)), restricted memory, "
            f"long-term gap {GAP} ({len(readings)} "
            "readings of VmRSS, `/proc/self/status`, after the frame given). All outputs written: masks, "
            f"overlay ({summary.fourcc}), memory.json, memory_timeline.png.",
            "",
            *rows,
            "",
            f"{summary.frames:,} frames in {summary.seconds:.0f} s ({summary.frames / summary.seconds:.1f} FPS end to "
            f"end); {summary.peak_memory}. 1-minute load average at the end: {load} (other jobs share the machine).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", type=Path, default=REPOSITORY_ROOT / "benchmarks" / "results" / "demo_memory_cpu.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    marks = sorted({m for m in (1, 100, 1000, 2500, 5000, 7500, 10_000, args.frames) if m <= args.frames})
    with tempfile.TemporaryDirectory() as work:
        readings, summary = measure(args.frames, marks, Path(work))
    text = table(readings, args.frames, summary)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
