"""Speed of the standalone scorer (``python -m evaluation --benchmark davis2017``) against the DAVIS 2017 toolkit.

    python benchmarks/scorer.py                                  # our scorer only
    python benchmarks/scorer.py --toolkit /tmp/davis2017 --toolkit-python /tmp/davis_env/bin/python
    python benchmarks/scorer.py --toolkit ... --agreement 8     # also compare the numbers on 8 random datasets

Writes a DAVIS-layout dataset (default 30 sequences x 50 frames of 480x854 with 2-3 moving objects, and
predictions that are perturbed copies of the ground truth) into a temporary folder, times our command
line on it end to end (a fresh process: imports, reading the PNGs, J, F, CSVs), and, with ``--toolkit``,
times the official toolkit on the same files in another Python (``--toolkit-python``, an environment
with numpy, pandas, pillow, opencv-python, scikit-image, scipy and tqdm) whose ``sys.path`` gets the
toolkit checkout. The toolkit is never imported here and is not part of this repository.

With ``--agreement K`` it also scores K small random datasets (odd frame sizes, void pixels, absent
and unpredicted objects, one sequence of more than 256 scored frames) with both and reports the largest
difference of every global and per-object value. ``--fork DIR`` does the same for ``--benchmark
longvideos`` against RMem's davis2017-evaluation fork on sparsely annotated datasets (its J_last is
left out: it is defined differently on purpose, see evaluation/README.md).

Prints a markdown table and writes it to ``--out`` (default benchmarks/results/scorer_cpu.md).
JPEGImages/ holds empty ``.jpg`` files: neither scorer reads images, only their names.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))
from evaluation import evaluate  # noqa: E402
from evaluation.palette import DAVIS_PALETTE  # noqa: E402
from evaluation.runner import available_cores  # noqa: E402

# Run in the toolkit's Python: score with its DAVISEvaluation and dump every value with full precision.
TOOLKIT_DRIVER = """
import json, sys, time
toolkit, davis_path, results_path, out = sys.argv[1:5]
sys.path.insert(0, toolkit)
import numpy
from davis2017.evaluation import DAVISEvaluation
start = time.perf_counter()
scores = DAVISEvaluation(davis_root=davis_path, task="semi-supervised", gt_set="val").evaluate(results_path)
seconds = time.perf_counter() - start
record = {"seconds": seconds, "numpy": numpy.__version__,
          "names": list(scores["J"]["M_per_object"])}
for measure in ("J", "F", "J_last"):
    if measure in scores:
        record[measure] = {key: [float(v) for v in scores[measure][key]] for key in ("M", "R", "D")}
with open(out, "w") as f:
    json.dump(record, f)
"""


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and its widest vector extension, which moves CPU timings the most (machines of
    one model name come with and without AVX-512)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    fields: dict[str, str] = {}
    for line in lines:  # the first processor's fields (every processor lists the same)
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return f"{model}, {vector}" if vector else model


def write_png(path: Path, ids: np.ndarray) -> None:
    """A palette PNG (fast compression: this is test data)."""
    image = Image.fromarray(ids, mode="P")
    image.putpalette(DAVIS_PALETTE.reshape(-1).tolist())
    image.save(path, compress_level=1)


def draw_ellipse(ids: np.ndarray, label: int, centre: tuple[float, float], radii: tuple[float, float]) -> None:
    """Paint an axis-aligned ellipse of ``label`` (clipped to the frame) into ``ids``."""
    height, width = ids.shape
    cy, cx = centre
    ry, rx = max(radii[0], 0.5), max(radii[1], 0.5)
    top, bottom = max(int(cy - ry), 0), min(int(cy + ry) + 1, height)
    left, right = max(int(cx - rx), 0), min(int(cx + rx) + 1, width)
    if top >= bottom or left >= right:
        return
    yy, xx = np.ogrid[top:bottom, left:right]
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    ids[top:bottom, left:right][inside] = label


def synthetic_sequence(
    rng: np.random.Generator, frames: int, height: int, width: int, objects: int, hard: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ground truth and predictions of one sequence: objects moving on straight lines; the prediction is
    each object displaced and resized a little, sometimes missed, plus stray blobs. ``hard`` adds GT void
    pixels, objects absent from some frames, a predicted id that is never in the ground truth's frames,
    and objects touching the frame border."""
    scale = min(height, width)
    start = rng.uniform([0, 0], [height, width], size=(objects, 2))
    velocity = rng.normal(0, scale / 60, size=(objects, 2))
    radii = rng.uniform(scale / 14, scale / 5, size=(objects, 2))
    gt_frames, predicted_frames = [], []
    for t in range(frames):
        gt = np.zeros((height, width), dtype=np.uint8)
        predicted = np.zeros_like(gt)
        for k in range(objects):
            centre = start[k] + velocity[k] * t
            centre = np.abs((centre + [height, width]) % (2 * np.array([height, width])) - [height, width])
            if hard and t > 0 and rng.random() < 0.1:
                continue  # absent from this frame
            size = radii[k] * (1 + 0.2 * math.sin(t / 7 + k))
            draw_ellipse(gt, k + 1, tuple(centre), tuple(size))
            if rng.random() < 0.05:
                continue  # missed by the prediction
            shift = rng.normal(0, scale / 80, size=2)
            draw_ellipse(predicted, k + 1, tuple(centre + shift), tuple(size * rng.uniform(0.85, 1.15, 2)))
        if rng.random() < 0.3:
            blob = rng.uniform([0, 0], [height, width])
            draw_ellipse(predicted, int(rng.integers(1, objects + 1)), tuple(blob), (scale / 40, scale / 30))
        if hard:
            if rng.random() < 0.5:
                y, x = rng.integers(0, height), rng.integers(0, width)
                gt[y : y + scale // 8 + 1, x : x + scale // 6 + 1] = 255
            if rng.random() < 0.2:
                predicted[-1, : width // 3] = 1
        gt_frames.append(gt)
        predicted_frames.append(predicted)
    # Every object is in the first frame, as DAVIS defines the objects by it.
    for k in range(objects):
        if not (gt_frames[0] == k + 1).any():
            gt_frames[0][k, k] = k + 1
    return gt_frames, predicted_frames


def write_dataset(
    root: Path,
    sequences: dict[str, tuple[list[np.ndarray], list[np.ndarray]]],
    annotated_every: int = 1,
) -> tuple[Path, Path]:
    """A DAVIS-layout dataset and a results folder. With ``annotated_every`` > 1 only every so many
    frames (and the last) have an annotation PNG, as in sparsely annotated long videos."""
    davis, results = root / "DAVIS", root / "results"
    (davis / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{name}\n" for name in sequences))
    for name, (gt_frames, predicted_frames) in sequences.items():
        for folder in (davis / "JPEGImages" / "480p" / name, davis / "Annotations" / "480p" / name, results / name):
            folder.mkdir(parents=True, exist_ok=True)
        last = len(gt_frames) - 1
        for t, (gt, predicted) in enumerate(zip(gt_frames, predicted_frames)):
            stem = f"{t:05d}"
            (davis / "JPEGImages" / "480p" / name / f"{stem}.jpg").touch()
            if t % annotated_every == 0 or t == last:
                write_png(davis / "Annotations" / "480p" / name / f"{stem}.png", gt)
            write_png(results / name / f"{stem}.png", predicted)
    return davis, results


def timed_run(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of a command, which must succeed."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return seconds


def run_ours(davis: Path, results: Path, workers: int | None, benchmark: str = "davis2017") -> float:
    command = [
        sys.executable,
        "-m",
        "evaluation",
        "--benchmark",
        benchmark,
        "--task",
        "semi-supervised",
        "--results_path",
        str(results),
        "--davis_path",
        str(davis),
        "--set",
        "val",
        "--re",
    ]
    if workers:
        command += ["--workers", str(workers)]
    return timed_run(command)


def run_toolkit(toolkit: Path, python: str, davis: Path, results: Path, scratch: Path) -> tuple[float, dict]:
    """Wall-clock seconds of the toolkit in a fresh process, and its values."""
    driver, out = scratch / "toolkit_driver.py", scratch / "toolkit_scores.json"
    driver.write_text(TOOLKIT_DRIVER)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    seconds = timed_run([python, str(driver), str(toolkit), str(davis), str(results), str(out)], env)
    return seconds, json.loads(out.read_text())


def toolkit_tables(record: dict, j_last: bool = False) -> tuple[dict[str, float], dict[str, list[float]]]:
    """The toolkit's global values (as its evaluation_method.py averages them) and per-object means."""
    measures = ["J", "F"] + (["J_last"] if j_last else [])
    global_values = {"J&F-Mean": (np.mean(record["J"]["M"]) + np.mean(record["F"]["M"])) / 2.0}
    for measure in measures:
        for key, statistic in zip("MRD", ("Mean", "Recall", "Decay")):
            global_values[f"{measure}-{statistic}"] = float(np.mean(record[measure][key]))
    per_object = {f"{measure}-Mean": record[measure]["M"] for measure in measures}
    return global_values, per_object


def largest_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest absolute difference, where NaN equals NaN and NaN against a number is infinite."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    both_nan = np.isnan(ours) & np.isnan(theirs)
    difference = np.where(both_nan, 0.0, np.abs(ours - theirs))
    return float(np.nan_to_num(difference, nan=np.inf).max(initial=0.0))


def compare(davis: Path, results: Path, record: dict, benchmark: str) -> tuple[float, int, int]:
    """(largest difference over all values, number of values compared, NaNs among ours)."""
    global_table, per_sequence = evaluate(results, davis, benchmark=benchmark, workers=1)
    toolkit_global, toolkit_objects = toolkit_tables(record)
    if list(per_sequence["Sequence"]) != record["names"]:
        return math.inf, 0, 0
    worst, count = 0.0, 0
    for column, value in toolkit_global.items():
        worst = max(worst, largest_difference([global_table[column][0]], [value]))
        count += 1
    for column, values in toolkit_objects.items():
        worst = max(worst, largest_difference(per_sequence[column].to_numpy(), values))
        count += len(values)
    nans = int(global_table.isna().to_numpy().sum() + per_sequence.drop(columns="Sequence").isna().to_numpy().sum())
    return worst, count, nans


def agreement_dataset(
    rng: np.random.Generator, root: Path, sparse: bool, long_frames: int = 0
) -> tuple[Path, Path, str]:
    """A small random dataset, plus (if ``long_frames``) a tiny sequence of that many frames."""
    sequences = {}
    for index in range(int(rng.integers(3, 6))):
        height, width = int(rng.integers(8, 160)), int(rng.integers(8, 240))
        frames = int(rng.integers(3, 40)) * (4 if sparse else 1)
        sequences[f"seq{index}"] = synthetic_sequence(rng, frames, height, width, int(rng.integers(1, 5)), True)
    if long_frames:
        sequences["long"] = synthetic_sequence(rng, long_frames, 12, 20, 2, True)
    every = int(rng.integers(2, 6)) if sparse else 1
    davis, results = write_dataset(root, sequences, every)
    sizes = sorted({gt[0].shape for gt, _ in sequences.values()})
    frames = sorted(len(gt) for gt, _ in sequences.values())
    annotated = f", 1 frame in {every} annotated" if sparse else ""
    return davis, results, f"{len(sequences)} sequences of {frames} frames{annotated}, HxW {sizes}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=30)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--workers", type=int, default=None, help="our scorer's processes (default: all cores)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of our scorer; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--toolkit", type=Path, help="a davis2017-evaluation checkout (the folder with davis2017/)")
    parser.add_argument("--fork", type=Path, help="RMem's davis2017-evaluation fork, for the longvideos agreement")
    parser.add_argument(
        "--toolkit-python",
        nargs="+",
        default=[sys.executable],
        help="Python(s) that can run the toolkit; the first is timed, the agreement checks run with each",
    )
    parser.add_argument("--agreement", type=int, default=0, help="random datasets to compare value by value")
    parser.add_argument("--skip-timing", action="store_true", help="only the agreement checks")
    parser.add_argument("--out", type=Path, default=REPOSITORY_ROOT / "benchmarks" / "results" / "scorer_cpu.md")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    workers = args.workers or available_cores()
    lines = [
        "# Scorer speed, DAVIS 2017 protocol (`benchmarks/scorer.py`)",
        "",
        f"Machine: {cpu_name()}, {available_cores()} cores; "
        f"Python {platform.python_version()}, numpy {np.__version__}.",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="scorer_bench_") as scratch_name:
        scratch = Path(scratch_name)
        if not args.skip_timing:
            start = time.perf_counter()
            sequences = {
                f"seq{i:02d}": synthetic_sequence(
                    rng, args.frames, args.height, args.width, int(rng.integers(2, 4)), False
                )
                for i in range(args.sequences)
            }
            davis, results = write_dataset(scratch / "timing", sequences)
            objects = sum(int(gt[0].max()) for gt, _ in sequences.values())
            print(
                f"wrote {args.sequences} sequences x {args.frames} frames of {args.height}x{args.width} "
                f"({objects} objects) in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            load_start = os.getloadavg()[0]
            ours = min(run_ours(davis, results, args.workers) for _ in range(max(args.repeat, 1)))
            print(f"ours: {ours:.2f} s", flush=True)
            rows = [("ours", f"{workers} worker processes" if workers > 1 else "inline", ours)]
            if workers > 1:
                inline = min(run_ours(davis, results, 1) for _ in range(max(args.repeat, 1)))
                print(f"ours, --workers 1: {inline:.2f} s", flush=True)
                rows.append(("ours", "--workers 1 (inline)", inline))
            if args.toolkit:
                load_before = os.getloadavg()[0]
                toolkit_seconds, record = run_toolkit(args.toolkit, args.toolkit_python[0], davis, results, scratch)
                print(f"toolkit: {toolkit_seconds:.2f} s (numpy {record['numpy']})", flush=True)
                rows.append(("davis2017-evaluation", f"1 process, numpy {record['numpy']}", toolkit_seconds))
                worst, count, _ = compare(davis, results, record, "davis2017")
            lines += [
                f"Dataset: {args.sequences} sequences x {args.frames} frames, {args.height}x{args.width}, "
                f"{objects} objects (2-3 per sequence), every frame annotated; "
                f"{args.sequences * (args.frames - 2)} scored frames.",
                "",
                "| scorer | how | wall time (s) | speed vs the slowest |",
                "|---|---|---:|---:|",
            ]
            slowest = max(seconds for _, _, seconds in rows)
            lines += [f"| {name} | {how} | {seconds:.2f} | {slowest / seconds:.1f}x |" for name, how, seconds in rows]
            if args.toolkit:
                lines += [
                    "",
                    f"Same input, largest difference over the {count} global and per-object values: {worst:.3g}.",
                ]
            load = [load_start] + ([load_before] if args.toolkit else []) + [os.getloadavg()[0]]
            lines += [
                "",
                "1-minute load average at the start of each timing and at the end (other jobs share "
                f"the machine): {', '.join(f'{value:.1f}' for value in load)}.",
            ]
            lines.append("")
        checks = []
        for index in range(args.agreement if args.toolkit else 0):
            # 300 frames: 298 scored, the last bin bound wraps below the others and Decay is NaN;
            # 402 frames: 400 scored, the last two bounds wrap and Decay is finite but not the intended one.
            long_frames = 300 if index == 0 else 402
            davis, results, what = agreement_dataset(rng, scratch / f"agree{index}", False, long_frames)
            for python in args.toolkit_python:
                _, record = run_toolkit(args.toolkit, python, davis, results, scratch)
                worst, count, nans = compare(davis, results, record, "davis2017")
                checks.append(("davis2017", f"davis2017-evaluation, numpy {record['numpy']}", what, count, nans, worst))
                print(
                    f"davis2017 agreement {index}: {what}: {count} values, largest difference {worst:.3g}", flush=True
                )
        for index in range(args.agreement if args.fork else 0):
            davis, results, what = agreement_dataset(rng, scratch / f"sparse{index}", sparse=True)
            for python in args.toolkit_python:
                _, record = run_toolkit(args.fork, python, davis, results, scratch)
                worst, count, nans = compare(davis, results, record, "longvideos")
                checks.append(
                    ("longvideos", f"RMem fork, numpy {record['numpy']} (J_last left out)", what, count, nans, worst)
                )
                print(
                    f"longvideos agreement {index}: {what}: {count} values, largest difference {worst:.3g}", flush=True
                )
        if checks:
            lines += [
                "Agreement on random datasets (void pixels, absent and missed objects, frame sizes from 8 px). "
                "Each davis2017 dataset has a tiny sequence of more than 256 scored frames, where the toolkit's "
                "Decay bins wrap: 298 (Decay NaN, so the global Decay is NaN) in the first, 400 in the others:",
                "",
                "| benchmark | against | dataset | values | NaN | largest difference |",
                "|---|---|---|---:|---:|---:|",
            ]
            lines += [f"| {b} | {a} | {w} | {c} | {n} | {d:.3g} |" for b, a, w, c, n, d in checks]
            lines.append("")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
