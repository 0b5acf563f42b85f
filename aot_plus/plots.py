"""Pictures of a run: what the long-term memory held over a video and why frames left it, and J over time
of two results folders.

    python -m aot_plus.plots memory LOG.json [--out DIR] [--sequences A,B]
    python -m aot_plus.plots compare RESULTS_A RESULTS_B --dataset-root D [--split val] [--out FILE]

``memory`` reads a memory log (``python -m aot_plus.eval --memory-log``, or a demo's ``memory.json``) and
draws one timeline per sequence: on top, which frames the long-term memory holds at each frame (writes
and evictions marked); below, each entry's relevance, freshness bonus and score at each write, so that
the entry that left is seen to have had the lowest score. ``compare`` scores both folders per frame with
the ``evaluation`` package (its ``per-frame_results-<split>.csv``, reused while the predictions are
unchanged) and draws each sequence's J over time for both.

The figures are drawn on matplotlib ``Figure`` objects (Agg), never through pyplot, so that nothing
depends on a display or on pyplot's global state.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from evaluation import EvaluationError
from evaluation.per_frame import per_frame_results

from .arguments import name_list
from .errors import ScoringError, UserInputError, run_command
from .results import write_atomically

EVICTED_COLOUR = "#d62728"
WRITE_COLOUR = "#222222"
ENTRY_COLOURS = matplotlib.colormaps["tab10"].colors
DPI = 100


class MemoryLogError(UserInputError):
    """A memory log that cannot be read or drawn."""


# ------------------------------------------------------------------------------------------ memory data
@dataclass(frozen=True)
class MemorySpan:
    """One stay of a frame in the long-term memory: it is held at positions ``start`` to ``stop - 1``."""

    frame: int
    start: int
    stop: int


def memory_spans(frames: Iterable[Mapping[str, Any]]) -> tuple[list[MemorySpan], int]:
    """The stays of every memory frame, from the log's per-frame entries (``{"frame", "memory"}``), and
    the number of frames. One pass and one open span per held frame: a 10,000-frame log costs no more."""
    held: dict[int, int] = {}
    spans: list[MemorySpan] = []
    count = 0
    for position, entry in enumerate(frames):
        memory = entry.get("memory") if isinstance(entry, Mapping) else None
        if not isinstance(memory, list) or not all(isinstance(m, int) for m in memory):
            raise ValueError(f"frame entry {position} has no 'memory' list of frame indices")
        now = set(memory)
        for frame in [f for f in held if f not in now]:
            spans.append(MemorySpan(frame, held.pop(frame), position))
        for frame in memory:
            held.setdefault(frame, position)
        count = position + 1
    spans += [MemorySpan(frame, start, count) for frame, start in held.items()]
    return sorted(spans, key=lambda s: (s.frame, s.start)), count


def memory_raster(sequence_log: Mapping[str, Any]) -> np.ndarray:
    """(memory frame index, frame) bool array: ``raster[m, t]`` is True when the long-term memory holds
    frame m at frame t. This is what the timeline's top panel draws (as one bar per stay)."""
    spans, count = memory_spans(sequence_log["frames"])
    rows = max((s.frame for s in spans), default=-1) + 1
    raster = np.zeros((rows, count), dtype=bool)
    for span in spans:
        raster[span.frame, span.start : span.stop] = True
    return raster


@dataclass(frozen=True)
class EntryScores:
    """One memory entry's values at the writes that scored it (x: the frame written)."""

    writes: list[int]
    relevance: list[float]
    bonus: list[float]
    score: list[float]


def entry_scores(events: Iterable[Mapping[str, Any]]) -> dict[int, EntryScores]:
    """Memory frame -> its relevance, freshness bonus and score at each scored write."""
    entries: dict[int, EntryScores] = {}
    for event in events:
        if "score" not in event:
            continue
        for i, frame in enumerate(event["scored_frames"]):
            entry = entries.setdefault(frame, EntryScores([], [], [], []))
            entry.writes.append(event["frame"])
            entry.relevance.append(event["relevance"][i])
            entry.bonus.append(event["bonus"][i])
            entry.score.append(event["score"][i])
    return entries


# --------------------------------------------------------------------------------------------- figures
def _entry_colour(frame: int, order: Mapping[int, int]) -> tuple[float, ...]:
    return ENTRY_COLOURS[order.get(frame, frame) % len(ENTRY_COLOURS)]


def _draw_memory(ax: Any, spans: list[MemorySpan], events: list[Mapping[str, Any]], order: Mapping[int, int]) -> None:
    """Top panel: one bar per stay in memory, writes as dots, evictions as crosses."""
    rows = max(len(order), 1)
    width = max(1.0, min(8.0, 240.0 / rows))
    segments = [[(s.start - 0.5, s.frame), (s.stop - 0.5, s.frame)] for s in spans]
    colours = [_entry_colour(s.frame, order) for s in spans]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=width, capstyle="butt"))
    ax.scatter([e["frame"] for e in events], [e["frame"] for e in events], s=12, c=WRITE_COLOUR, zorder=3)
    evicted = [e for e in events if e.get("evicted") is not None]
    ax.scatter(
        [e["frame"] for e in evicted], [e["evicted"] for e in evicted], s=40, marker="x", c=EVICTED_COLOUR, zorder=4
    )
    ax.autoscale_view()
    ax.set_ylabel("frame in long-term memory")
    ax.legend(
        handles=[
            Line2D([], [], color="grey", lw=4, label="held in memory"),
            Line2D([], [], color=WRITE_COLOUR, marker="o", ls="", ms=4, label="written"),
            Line2D([], [], color=EVICTED_COLOUR, marker="x", ls="", ms=6, label="evicted"),
        ],
        loc="upper left",
        fontsize="small",
    )


def _draw_scores(ax: Any, events: list[Mapping[str, Any]], order: Mapping[int, int]) -> None:
    """Bottom panel: per entry its score (solid), relevance (dashed) and freshness bonus (dotted) at each
    scored write; the evicted entry's score is crossed. Writes that were not scored are grey lines."""
    scores = entry_scores(events)
    colours = [_entry_colour(frame, order) for frame in scores]
    for name, width, style in (("score", 1.2, "solid"), ("relevance", 0.8, "dashed"), ("bonus", 0.8, "dotted")):
        lines = [list(zip(entry.writes, getattr(entry, name))) for entry in scores.values()]
        ax.add_collection(LineCollection(lines, colors=colours, linewidths=width, linestyles=style))
    unscored = [event["frame"] for event in events if "score" not in event]
    if unscored:
        ax.vlines(unscored, 0, 1, transform=ax.get_xaxis_transform(), colors="0.85", lw=0.8, zorder=0)
    evicted = [
        (event["frame"], event["score"][event["scored_frames"].index(event["evicted"])])
        for event in events
        if "score" in event and event.get("evicted") is not None
    ]
    if evicted:
        ax.scatter(*zip(*evicted), s=40, marker="x", c=EVICTED_COLOUR, zorder=4)
    ax.autoscale_view()
    if not scores:
        message = "no scores: this policy keeps frames without scoring them"
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xlabel("frame")
    ax.set_ylabel("value at each write")
    ax.legend(
        handles=[
            Line2D([], [], color="k", lw=1.2, label="score = smoothed relevance + bonus"),
            Line2D([], [], color="k", lw=0.8, ls="--", label="relevance"),
            Line2D([], [], color="k", lw=0.8, ls=":", label="freshness bonus"),
            Line2D(
                [],
                [],
                color=EVICTED_COLOUR,
                marker="x",
                ls="",
                ms=6,
                label="evicted: lowest score (the first and newest stay)",
            ),
        ],
        loc="upper left",
        fontsize="small",
    )


def save_figure(figure: Figure, path: Path) -> None:
    """A PNG written atomically (a reader never sees half a picture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: figure.savefig(temporary, format="png", dpi=DPI))


def plot_memory_timeline(sequence_log: Mapping[str, Any], path: Path, title: str = "") -> None:
    """The memory timeline of one sequence of a memory log as a PNG. ``sequence_log["frames"]`` may be any
    iterable of the per-frame entries (it is read once), ``sequence_log["events"]`` the events' dicts."""
    spans, count = memory_spans(sequence_log["frames"])
    events = list(sequence_log.get("events", []))
    order = {frame: i for i, frame in enumerate(sorted({s.frame for s in spans}))}
    figure = Figure(figsize=(9, 6.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    _draw_memory(top, spans, events, order)
    _draw_scores(bottom, events, order)
    bottom.set_xlim(-0.5, max(count, 1) - 0.5)
    top.set_title(title or f"long-term memory over {count} frames")
    save_figure(figure, Path(path))


def sequence_j(per_frame: pd.DataFrame, sequence: str) -> pd.Series:
    """J of a sequence per scored frame (mean over its objects), in frame order."""
    rows = per_frame[per_frame["Sequence"] == sequence]
    return rows.groupby("Frame", sort=False)["J"].mean()


def plot_compare(per_frame_a: pd.DataFrame, per_frame_b: pd.DataFrame, path: Path, labels: Sequence[str]) -> None:
    """Per sequence, J over the scored frames of two per-frame tables (``evaluation.per_frame``) as a PNG."""
    sequences = list(dict.fromkeys(per_frame_a["Sequence"]))
    missing = sorted(set(sequences) ^ set(per_frame_b["Sequence"]))
    if missing:
        raise ScoringError(f"the two results cover different sequences ({', '.join(missing[:5])} in only one)")
    columns = min(3, len(sequences))
    rows = math.ceil(len(sequences) / columns)
    figure = Figure(figsize=(4.2 * columns, 2.6 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for ax, name in zip(axes, sequences):
        a, b = sequence_j(per_frame_a, name), sequence_j(per_frame_b, name)
        ax.plot(range(len(a)), a.to_numpy(), lw=1.2, label=f"{labels[0]} ({a.mean():.3f})")
        ax.plot(range(len(b)), b.to_numpy(), lw=1.2, label=f"{labels[1]} ({b.mean():.3f})")
        ax.set_title(name, fontsize="medium")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize="x-small", loc="lower left")
    for ax in axes[len(sequences) :]:
        ax.set_visible(False)
    figure.supxlabel("scored frame")
    figure.supylabel("J (mean over objects)")
    save_figure(figure, Path(path))


# ------------------------------------------------------------------------------------------ command line
def read_memory_log(path: Path) -> dict[str, Any]:
    """A memory log's sequences, checked to hold per-frame memory entries and events."""
    try:
        log = json.loads(path.read_text())
    except FileNotFoundError:
        raise MemoryLogError(f"{path}: memory log not found") from None
    except OSError as err:
        raise MemoryLogError(f"{path}: cannot be read ({err.strerror or err})") from None
    except ValueError as err:
        raise MemoryLogError(f"{path}: not valid JSON ({err})") from None
    sequences = log.get("sequences") if isinstance(log, dict) else None
    if not isinstance(sequences, dict) or not sequences:
        raise MemoryLogError(f"{path}: not a memory log (no 'sequences' mapping; write one with --memory-log)")
    for name, sequence in sequences.items():
        if not isinstance(sequence, dict) or not isinstance(sequence.get("frames"), list):
            raise MemoryLogError(f"{path}: sequence {name!r} has no 'frames' list")
    return sequences


def plot_memory_log(path: Path, out_dir: Path, names: Sequence[str] | None = None) -> list[Path]:
    """One timeline PNG per sequence of the log (or of ``names``), ``<out_dir>/<sequence>.png``."""
    sequences = read_memory_log(path)
    unknown = [name for name in names or () if name not in sequences]
    if unknown:
        raise MemoryLogError(f"{path}: no sequence {', '.join(unknown)} (it has {', '.join(sorted(sequences))})")
    written = []
    for name in names or sorted(sequences):
        sequence = sequences[name]
        gap = sequence.get("long_term_gap")
        title = f"{name}: long-term memory" + (f" (gap {gap})" if gap else "")
        target = out_dir / f"{name}.png"
        try:
            plot_memory_timeline(sequence, target, title)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise MemoryLogError(f"{path}: sequence {name!r} cannot be drawn ({err})") from None
        written.append(target)
    return written


def folder_labels(a: Path, b: Path) -> tuple[str, str]:
    """Short names that tell two results folders apart (``x/val`` and ``y/val`` -> ``x/val``, ``y/val``)."""
    a, b = a.resolve(), b.resolve()
    depth = 1
    while depth < len(a.parts) and Path(*a.parts[-depth:]) == Path(*b.parts[-depth:]):
        depth += 1
    return str(Path(*a.parts[-depth:])), str(Path(*b.parts[-depth:]))


def compare_folders(a: Path, b: Path, dataset_root: Path, split: str, out: Path | None) -> Path:
    """Scores both folders per frame (or reuses their per-frame CSVs) and draws the comparison."""
    labels = folder_labels(a, b)
    try:
        tables = [per_frame_results(folder, dataset_root, split) for folder in (a, b)]
    except EvaluationError as err:
        raise ScoringError(str(err)) from None
    path = out or Path("compare_" + "_vs_".join(label.replace("/", "-") for label in labels) + ".png")
    plot_compare(tables[0], tables[1], path, labels)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aot_plus.plots", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    memory = commands.add_parser("memory", help="memory timelines of a memory log, one PNG per sequence")
    memory.add_argument("log", type=Path, metavar="LOG.json", help="a --memory-log file or a demo's memory.json")
    memory.add_argument("--out", type=Path, help="folder of the PNGs (default: <LOG>_timelines beside the log)")
    memory.add_argument("--sequences", type=name_list, metavar="A,B", help="only these sequences")
    compare = commands.add_parser("compare", help="per-sequence J over time of two results folders")
    compare.add_argument("results_a", type=Path, metavar="RESULTS_A")
    compare.add_argument("results_b", type=Path, metavar="RESULTS_B")
    compare.add_argument("--dataset-root", type=Path, required=True, help="VOST-layout dataset folder")
    compare.add_argument("--split", default="val", help="sequence list ImageSets/<split>.txt (default: val)")
    compare.add_argument("--out", type=Path, help="PNG file (default: compare_<A>_vs_<B>.png here)")
    return parser


def run(args: argparse.Namespace) -> None:
    if args.command == "memory":
        out_dir = args.out or args.log.with_name(f"{args.log.stem}_timelines")
        for path in plot_memory_log(args.log, out_dir, args.sequences):
            print(path)
    else:
        print(compare_folders(args.results_a, args.results_b, args.dataset_root, args.split, args.out))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line ``error:`` message on bad input)."""
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
