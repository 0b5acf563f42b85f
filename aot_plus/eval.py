"""Segment a VOST-layout split and score it: ``python -m aot_plus.eval``.

    python -m aot_plus.eval --model r50_deaotl \\
        --ckpt pretrain_models/aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth --data-root datasets/VOST

Each sequence of ``ImageSets/<split>.txt`` starts from its first annotation; every later frame of
``JPEGImages_10fps`` is predicted with the chosen memory policy and the official per-sequence
long-term gap ``max(round(N / 30), 5)``. ``<out>/<sequence>/<frame>.png`` receives a byte copy of the
first annotation, then palette PNGs of the predicted ids at the original frame size (the official
write-back). The results are then scored with the ``evaluation`` package (CSVs in ``<out>``).

Resuming: a sequence whose PNGs all exist is skipped unless ``--overwrite``; any other one is
segmented again from its first frame, because the memory cannot be restored mid-sequence. Every PNG
is written under a temporary name and renamed, so an interrupted run leaves no truncated file.

Several GPUs: ``torchrun --nproc_per_node N -m aot_plus.eval ...``. Rank r segments sequences
r, r + N, ... of the sorted list on ``cuda:<LOCAL_RANK>``; rank 0 then scores and prints.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import resource
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import torch
import torch.distributed as dist
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from evaluation import EvaluationError, csv_paths, evaluate, save_tables
from evaluation.palette import save_index_png

from .checkpoints import CheckpointError, load_checkpoint
from .data.vost_eval import DatasetError, EvalSequence, load_eval_sequences, long_term_gap, read_image, read_mask
from .distributed import DeviceError, Ranks, resolve_device, start_process_group
from .files import replace_atomically
from .inference import InferenceSession
from .memory import build_memory_policy
from .models import AOT, build_model

logger = logging.getLogger(__name__)

MEMORY_POLICIES = ("restricted", "unrestricted", "fifo")
RELEASED_CHECKPOINTS = {
    "r50_aotl": "aotplus_R50_AOTL_Temp_pe_Slot_4_ema_20000.pth",
    "r50_deaotl": "aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth",
}
CHECKPOINT_FOLDER = "pretrain_models"
RMEM_README = "https://github.com/Restricted-Memory/RMem#checkpoint"
VOST_WEBSITE = "https://www.vostdataset.org/"
RANDOM_INIT_SEED = 0
MAX_PENDING_WRITES = 16
TEMPORARY_SUFFIX = ".tmp.png"
# Ranks meet only once all of them have finished their sequences, which can take hours on VOST.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=48)


class EvalError(RuntimeError):
    """A run that cannot go on as asked; the one-line message says what to do."""


# ------------------------------------------------------------------------------------------- settings
def model_name(model: str) -> str:
    """The config name of ``--model`` (the file stem for a YAML path)."""
    path = Path(model)
    return path.stem if path.suffix in (".yaml", ".yml") else model


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _name_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated sequence names")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aot_plus.eval",
        description="Segment a VOST-layout split (first annotation given) and score it with J_tr / J.")
    parser.add_argument("--model", default="r50_deaotl", help="model config name or YAML file (default: r50_deaotl)")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--ckpt", type=Path, help="checkpoint file, e.g. pretrain_models/<released file>.pth")
    weights.add_argument("--random-init", action="store_true",
                         help=f"random weights (seed {RANDOM_INIT_SEED}), only to test the pipeline")
    parser.add_argument("--data-root", type=Path, default=Path("datasets/VOST"),
                        help="VOST-layout dataset folder (default: datasets/VOST)")
    parser.add_argument("--split", default="val", help="sequence list ImageSets/<split>.txt (default: val)")
    parser.add_argument("--out", type=Path, help="results folder (default: results/<model>_<memory>/<split>)")
    parser.add_argument("--memory", choices=MEMORY_POLICIES, default="restricted",
                        help="long-term memory policy (default: restricted, the RMem bank of 1 + 8 frames)")
    parser.add_argument("--memory-config", type=Path, metavar="YAML",
                        help="options of the memory policy, e.g. configs/memory/restricted_may2024.yaml")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                        help="fp32 (official numerics) or autocast bf16/fp16 for speed on a GPU")
    parser.add_argument("--mask-unused-objects", action="store_true",
                        help="never predict object slots that no object uses (the official evaluation does)")
    parser.add_argument("--long-term-gap", type=_positive_int,
                        help="frames between long-term memory writes (default: max(round(N/30), 5) per sequence)")
    parser.add_argument("--no-temporal-pe", action="store_true",
                        help="build the model without the temporal embedding (for the vanilla AOT/DeAOT checkpoints)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu; cuda:LOCAL_RANK "
                                         "under torchrun)")
    parser.add_argument("--overwrite", action="store_true", help="segment finished sequences again")
    parser.add_argument("--memory-log", type=Path, metavar="FILE",
                        help="write, as JSON, the long-term memory frames (of the first object group) after "
                             "every frame of each sequence segmented in this run")
    parser.add_argument("--sequences", type=_name_list, metavar="A,B",
                        help="segment only these sequences of the split (scoring is then skipped)")
    parser.add_argument("--no-score", action="store_true", help="write the masks only")
    return parser


# ----------------------------------------------------------------------------------------------- model
def missing_checkpoint_message(path: Path, model: str) -> str:
    released = RELEASED_CHECKPOINTS.get(model_name(model))
    if released:
        what = f"download {released} (the released RMem {model_name(model)} weights, linked in {RMEM_README})"
    else:
        what = f"train one, or use a released model ({', '.join(RELEASED_CHECKPOINTS)}; files linked in {RMEM_README})"
    return (f"{path}: checkpoint not found; {what} and put it in {CHECKPOINT_FOLDER}/, "
            "or pass --random-init to test the pipeline with random weights")


def _build(model: str, temporal_pe: bool) -> AOT:
    try:
        return build_model(model, **({} if temporal_pe else {"temporal_pe": False}))
    except (ValueError, FileNotFoundError) as err:   # unknown name, missing or malformed YAML
        raise EvalError(f"--model {model}: {err}") from None


def load_model(model: str, ckpt: Path | None, temporal_pe: bool, device: torch.device) -> AOT:
    """The model in eval mode on ``device``, with the checkpoint's weights or (``ckpt=None``) seeded random ones."""
    if ckpt is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            network = _build(model, temporal_pe)
        logger.warning("WARNING: --random-init: the model has RANDOM weights (seed %d); its masks and scores only "
                       "test the pipeline and mean nothing", RANDOM_INIT_SEED)
        return network.to(device).eval()
    if not ckpt.is_file():
        raise EvalError(missing_checkpoint_message(ckpt, model))
    network = _build(model, temporal_pe)
    report = load_checkpoint(network, ckpt)
    if not report.clean:
        logger.warning("%s: loaded with %s", ckpt, report.summary())
    logger.info("loaded %s into %s", ckpt, model_name(model))
    return network.to(device).eval()


# ---------------------------------------------------------------------------------------------- output
def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` a temporary file beside ``path``, then rename it over ``path``."""
    with replace_atomically(path, TEMPORARY_SUFFIX) as temporary:
        write(temporary)


def save_prediction(path: Path, ids: np.ndarray) -> None:
    """A palette PNG of original object ids, written atomically."""
    write_atomically(path, lambda temporary: save_index_png(temporary, ids))


def copy_reference(source: Path, path: Path) -> None:
    """A byte copy of the first annotation, written atomically."""
    write_atomically(path, lambda temporary: shutil.copyfile(source, temporary))


def prediction_paths(out_dir: Path, sequence: EvalSequence) -> list[Path]:
    return [out_dir / sequence.name / f"{stem}.png" for stem in sequence.frame_names]


def is_finished(out_dir: Path, sequence: EvalSequence) -> bool:
    """True when every frame of the sequence has its PNG."""
    return all(path.is_file() for path in prediction_paths(out_dir, sequence))


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary PNGs that an interrupted run left behind (only this module's own names)."""
    for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        path.unlink(missing_ok=True)


class PngWriter:
    """Writes PNGs on background threads so that encoding overlaps inference; errors surface in ``flush``."""

    def __init__(self, pool: ThreadPoolExecutor):
        self._pool = pool
        self._pending: deque[Future] = deque()

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        if len(self._pending) >= MAX_PENDING_WRITES:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(write, *args))

    def flush(self) -> None:
        while self._pending:
            self._pending.popleft().result()


# ------------------------------------------------------------------------------------------ inference
@dataclass
class SequenceReport:
    """What segmenting one sequence took; ``memory`` holds the long-term memory frames after each frame."""

    name: str
    frames: int
    long_term_gap: int
    seconds: float             # model time only: reading and writing files are not counted
    peak_memory: str
    memory: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def peak_memory(device: torch.device) -> str:
    """Peak GPU memory of the current sequence, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
    kib = 1 if sys.platform == "darwin" else 1024   # ru_maxrss is in bytes on macOS, KiB on Linux
    return f"peak process RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib / 2**30:.2f} GiB"


def _check_size(path: Path, size: tuple[int, ...], expected: tuple[int, ...], what: str) -> None:
    if size[:2] != expected[:2]:
        raise DatasetError(f"{path}: is {size[1]}x{size[0]}, but {what} is {expected[1]}x{expected[0]}")


def segment_sequence(session: InferenceSession, sequence: EvalSequence, out_dir: Path, writer: PngWriter,
                     progress: tqdm) -> SequenceReport:
    """Segments every frame of ``sequence`` with a fresh ``session`` and queues its PNGs on ``writer``."""
    device = session.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    mask = read_mask(sequence.first_mask)
    first = read_image(sequence.frames[0])
    _check_size(sequence.first_mask, mask.shape, first.shape, f"the first frame {sequence.frames[0].name}")
    folder = out_dir / sequence.name
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    paths = prediction_paths(out_dir, sequence)
    report = SequenceReport(sequence.name, len(sequence), session.long_term_gap, 0.0, "")
    writer.submit(copy_reference, sequence.first_mask, paths[0])
    start = time.perf_counter()
    session.add_reference(first, mask)
    report.seconds += time.perf_counter() - start
    report.memory.append({"frame": sequence.frame_names[0], "memory": session.memory_frames})
    progress.update(1)
    for frame, path, name in zip(sequence.frames[1:], paths[1:], sequence.frame_names[1:]):
        image = read_image(frame)
        _check_size(frame, image.shape, first.shape, f"the first frame {sequence.frames[0].name}")
        start = time.perf_counter()
        ids = session.to_ids(session.step(image).label)
        report.seconds += time.perf_counter() - start
        writer.submit(save_prediction, path, ids)
        report.memory.append({"frame": name, "memory": session.memory_frames})
        progress.update(1)
    writer.flush()
    report.peak_memory = peak_memory(device)
    return report


@dataclass(frozen=True)
class RunOptions:
    """How to segment: output folder, memory policy and gap, and whether finished sequences are redone."""

    out_dir: Path
    memory: str
    long_term_gap: int | None
    overwrite: bool
    memory_options: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    mask_unused_objects: bool = False


def segment_sequences(model: AOT, sequences: Sequence[EvalSequence], options: RunOptions,
                      ranks: Ranks) -> tuple[list[SequenceReport], int]:
    """Segments the sequences not finished yet (all of them with ``overwrite``); returns (reports, skipped)."""
    todo = [s for s in sequences if options.overwrite or not is_finished(options.out_dir, s)]
    skipped = len(sequences) - len(todo)
    if skipped:
        logger.info("skipping %d finished sequence(s) in %s (pass --overwrite to redo them)",
                    skipped, options.out_dir)
    reports = []
    progress = tqdm(total=sum(len(s) for s in todo), unit="frame", desc="Segmenting", file=sys.stderr,
                    dynamic_ncols=True, disable=not ranks.is_main)
    with progress, logging_redirect_tqdm(), ThreadPoolExecutor(max_workers=2) as pool:
        writer = PngWriter(pool)
        for sequence in todo:
            gap = options.long_term_gap or long_term_gap(len(sequence))
            progress.set_postfix_str(sequence.name)
            session = InferenceSession(model, memory=options.memory, long_term_gap=gap,
                                       memory_options=options.memory_options, precision=options.precision,
                                       mask_unused_objects=options.mask_unused_objects)
            report = segment_sequence(session, sequence, options.out_dir, writer, progress)
            logger.info("%s: %d frames, long-term gap %d, %.2f FPS, %s", report.name, report.frames,
                        report.long_term_gap, report.fps, report.peak_memory)
            reports.append(report)
    return reports, skipped


# -------------------------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class VostScores:
    """J (``J-Mean``) and J_tr (``J_last-Mean``) of a results folder, as fractions in 0..1."""

    j: float
    j_tr: float
    csv_paths: tuple[Path, Path]

    def headline(self) -> str:
        return (f"J_tr / J = {100 * self.j_tr:.1f} / {100 * self.j:.1f}  "
                f"(J_last-Mean {self.j_tr!r}, J-Mean {self.j!r})")


def score_results(results_path: str | Path, dataset_root: str | Path, split: str = "val",
                  workers: int | None = None) -> VostScores:
    """Scores ``results_path/<seq>/<frame>.png`` with the official VOST protocol and writes the two CSVs there."""
    results_path = Path(results_path)
    global_table, per_sequence_table = evaluate(results_path, dataset_root, split=split, workers=workers)
    paths = csv_paths(results_path, split, False)
    save_tables(global_table, per_sequence_table, paths)
    return VostScores(float(global_table["J-Mean"].iloc[0]), float(global_table["J_last-Mean"].iloc[0]), paths)


# ------------------------------------------------------------------------------------ process groups
def any_rank_failed(failed: bool, device: torch.device) -> bool:
    flag = torch.tensor([int(failed)], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(flag)
    return bool(flag.item())


def gather_reports(reports: list[SequenceReport], skipped: int, ranks: Ranks) -> tuple[list[SequenceReport], int]:
    """Every rank's (reports, skipped sequences) summed on rank 0; other ranks get ([], 0)."""
    if not ranks.distributed:
        return reports, skipped
    gathered: list[tuple[list[SequenceReport], int]] | None = [None] * ranks.world_size if ranks.is_main else None
    dist.gather_object((reports, skipped), gathered, dst=0)
    if gathered is None:
        return [], 0
    return [report for part, _ in gathered for report in part], sum(count for _, count in gathered)


# ------------------------------------------------------------------------------------------------ run
def write_memory_log(path: Path, reports: Sequence[SequenceReport], model: str, memory: str) -> None:
    sequences = {r.name: {"long_term_gap": r.long_term_gap, "frames": r.memory}
                 for r in sorted(reports, key=lambda r: r.name)}
    text = json.dumps({"model": model_name(model), "memory": memory, "sequences": sequences})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: temporary.write_text(text + "\n"))


def check_dataset_root(root: Path) -> None:
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found; download VOST from {VOST_WEBSITE} and put it there "
                           "(JPEGImages_10fps/, Annotations/, ImageSets/), or pass --data-root")


def segment_on_this_rank(args: argparse.Namespace, ranks: Ranks, device: torch.device,
                         out_dir: Path) -> tuple[list[SequenceReport], int]:
    check_dataset_root(args.data_root)
    sequences = load_eval_sequences(args.data_root, args.split, args.sequences)
    model = load_model(args.model, None if args.random_init else args.ckpt, not args.no_temporal_pe, device)
    options = RunOptions(out_dir, args.memory, args.long_term_gap, args.overwrite,
                         read_memory_config(args.memory_config, args.memory), args.precision,
                         args.mask_unused_objects)
    return segment_sequences(model, sequences[ranks.rank::ranks.world_size], options, ranks)


def read_memory_config(path: Path | None, memory: str) -> dict[str, Any]:
    """Options of the ``memory`` policy from a YAML mapping (empty without a file), validated."""
    if path is None:
        return {}
    if not path.is_file():
        raise EvalError(f"{path}: memory config not found")
    options = yaml.safe_load(path.read_text()) or {}
    if not isinstance(options, dict):
        raise EvalError(f"{path}: expected a mapping of memory options, got {type(options).__name__}")
    try:
        build_memory_policy(memory, **options)
    except ValueError as exc:
        raise EvalError(f"{path}: {exc}") from None
    return options


def summarise(reports: Sequence[SequenceReport], skipped: int, out_dir: Path) -> None:
    frames = sum(r.frames for r in reports)
    seconds = sum(r.seconds for r in reports)
    fps = f"{frames / seconds:.2f} FPS" if seconds > 0 else "no frames"
    logger.info("segmented %d sequence(s), %d frames, %s (model time); %d already finished; results in %s",
                len(reports), frames, fps, skipped, out_dir)


def run(args: argparse.Namespace, ranks: Ranks) -> VostScores | None:
    """Segments this rank's share of the split, then (rank 0) writes the memory log and scores."""
    device = resolve_device(args.device, ranks)
    out_dir = args.out or Path("results") / f"{model_name(args.model)}_{args.memory}" / args.split
    if ranks.distributed:
        start_process_group(ranks, device, COLLECTIVE_TIMEOUT)
    error: Exception | None = None
    reports: list[SequenceReport] = []
    skipped = 0
    try:
        reports, skipped = segment_on_this_rank(args, ranks, device, out_dir)
    except Exception as err:  # shared with the other ranks below so that none of them waits forever
        error = err
    if ranks.distributed and any_rank_failed(error is not None, device) and error is None:
        raise EvalError("another rank failed; see its error message")
    if error is not None:
        raise error
    reports, skipped = gather_reports(reports, skipped, ranks)
    if not ranks.is_main:
        return None
    summarise(reports, skipped, out_dir)
    if args.memory_log:
        write_memory_log(args.memory_log, reports, args.model, args.memory)
        logger.info("memory log of the %d sequence(s) segmented in this run: %s", len(reports), args.memory_log)
    return score(args, out_dir)


def score(args: argparse.Namespace, out_dir: Path) -> VostScores | None:
    if args.no_score:
        return None
    if args.sequences:
        logger.info("not scoring: --sequences selects part of the split; the evaluation scores whole splits")
        return None
    scores = score_results(out_dir, args.data_root, args.split)
    logger.info("scores written to %s and %s", *scores.csv_paths)
    print(scores.headline(), flush=True)
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (1 with a one-line ``error:`` message on bad input)."""
    args = build_parser().parse_args(argv)
    ranks = Ranks.from_env()
    prefix = f"[rank {ranks.rank}] " if ranks.distributed else ""
    logging.basicConfig(level=logging.INFO, format=f"{prefix}%(message)s", stream=sys.stdout)
    try:
        run(args, ranks)
    except (DatasetError, CheckpointError, EvaluationError, EvalError, DeviceError) as err:
        print(f"{prefix}error: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
