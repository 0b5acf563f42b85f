"""The GPU check's results against issue 11's targets, as one markdown table (``gpu_check.md``).

    python benchmarks/gpu_report.py benchmarks/results/gpu_check

Reads what ``benchmarks/gpu_check.sh`` leaves in its folder: the step benchmark's JSONs, the long run,
the bf16 vs fp32 agreement and the end-to-end line of ``gpu_check.log``; a missing part is reported as
missing, not guessed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

TARGET_FPS = {"fp32": 150.0, "bf16": 300.0}
"""Issue 11: steady-state frames per second of both R50 models with RMem at 480x854 on an H200."""
MIN_LABEL_AGREEMENT = 0.99
MAX_ABS_DELTA_J = 0.3
"""Points of J (precision_agreement.py reports J in percent)."""
MIN_END_TO_END_SHARE = 0.90
MAX_LONG_RUN_DRIFT = 0.10
"""Latency and memory may move by at most this share from frame 50 to the last frame of the long run."""

END_TO_END = re.compile(r"([\d.]+) FPS model time, ([\d.]+) end to end")


def _rows(path: Path) -> list[dict]:
    return json.loads(path.read_text())["rows"] if path.is_file() else []


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def step_table(folder: Path) -> list[str]:
    lines = [
        "| model | precision | CUDA graphs | frame | ms / frame | FPS | peak MB | target |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for name in ("fp32", "fp32_eager", "bf16"):
        rows = _rows(folder / f"step_{name}.json")
        if not rows:
            lines.append(f"| (step_{name}.json missing) | | | | | | | |")
            continue
        for model in dict.fromkeys(row["model"] for row in rows):
            last = [row for row in rows if row["model"] == model][-1]
            graphs = "whole frame" if last.get("frame_graph") else ("encoder" if last["cuda_graph"] else "none")
            target = TARGET_FPS[last["precision"]]
            verdict = f"{target:.0f} FPS: {_verdict(last['fps'] >= target)}" if last["cuda_graph"] else "-"
            lines.append(
                f"| {model} | {last['precision']} | {graphs} | {last['frame']} | {last['ms_per_frame']:.2f} | "
                f"{last['fps']:.1f} | {last['peak_memory_mb']:.0f} | {verdict} |"
            )
    return lines


def long_run(folder: Path) -> str:
    rows = _rows(folder / "step_fp32_long.json")
    if len(rows) < 2:
        return "Long run: step_fp32_long.json missing or shorter than two report frames."
    first, last = rows[0], rows[-1]
    latency = last["ms_per_frame"] / first["ms_per_frame"] - 1
    memory = last["peak_memory_mb"] / first["peak_memory_mb"] - 1
    flat = abs(latency) <= MAX_LONG_RUN_DRIFT and abs(memory) <= MAX_LONG_RUN_DRIFT
    return (
        f"Long run ({first['model']}, {first['precision']}): frame {first['frame']} -> {last['frame']}: "
        f"{first['ms_per_frame']:.2f} -> {last['ms_per_frame']:.2f} ms ({latency:+.1%}), peak "
        f"{first['peak_memory_mb']:.0f} -> {last['peak_memory_mb']:.0f} MB ({memory:+.1%}); flat within "
        f"{MAX_LONG_RUN_DRIFT:.0%}: {_verdict(flat)}."
    )


def agreement(folder: Path) -> str:
    path = folder / "precision_agreement.json"
    if not path.is_file():
        return "bf16 vs fp32: precision_agreement.json missing."
    row = json.loads(path.read_text())
    ok = row["label_agreement"] >= MIN_LABEL_AGREEMENT and abs(row["delta_J"]) <= MAX_ABS_DELTA_J
    return (
        f"bf16 vs fp32 on the synthetic val split: labels {row['label_agreement']:.3%} equal, "
        f"delta J {row['delta_J']:+.2f}, delta J_tr {row['delta_J_tr']:+.2f} (targets >= "
        f"{MIN_LABEL_AGREEMENT:.0%}, |delta J| <= {MAX_ABS_DELTA_J:.1f}): {_verdict(ok)}."
    )


def end_to_end(folder: Path) -> str:
    log, rows = folder / "gpu_check.log", _rows(folder / "step_e2e.json")
    found = END_TO_END.findall(log.read_text()) if log.is_file() else []
    if not found or not rows:
        return "End to end: the eval's summary line or step_e2e.json is missing."
    _, e2e_fps = (float(x) for x in found[-1])
    step_fps = rows[-1]["fps"]
    share = e2e_fps / step_fps
    return (
        f"End to end (aot_plus.eval, {rows[-1]['model']}): {e2e_fps:.1f} FPS vs the step's {step_fps:.1f} FPS at "
        f"the same size: {share:.0%} (target >= {MIN_END_TO_END_SHARE:.0%}): {_verdict(share >= MIN_END_TO_END_SHARE)}."
    )


def report(folder: Path) -> str:
    return "\n".join(
        ["# GPU check (issue 11 targets)", ""]
        + step_table(folder)
        + ["", long_run(folder), "", agreement(folder), "", end_to_end(folder), ""]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="the output folder of benchmarks/gpu_check.sh")
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    text = report(args.folder)
    (args.folder / "gpu_check.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
