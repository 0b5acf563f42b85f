"""The benchmarks ``python -m aot_plus.eval --dataset NAME`` knows: for each name its layout reader (a
builder of `VideoTask` lists), default split and data root, the per-dataset defaults of the official
evaluator, where its results go, and how they are scored (an ``evaluation`` benchmark, or a server).

The defaults follow RMem's evaluators (``aot_plus/networks/managers/evaluator.py`` of RMem for VOST,
``aot-benchmark/networks/managers/evaluator.py`` of RMem-DAVIS-LVOS for the others): the long-term gap
``max(round(N / 30), 5)`` for a video of N frames read, the test-time resize to a longest edge of
``800 * 1.3`` = 1040 pixels, and single-object reading for DAVIS 2016 and the long videos.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError
from ..scoring import score_benchmark, score_results
from . import davis, longvideos, lvos, vost, youtubevos
from .protocol import VideoTask
from .sequences import GapRule

DEFAULT_DATASET = "vost"
TEST_MAX_SIZE = 1040.0
"""The official ``TEST_MAX_LONG_EDGE``: ``--max_resolution`` 480 * 1.3 times 800 / 480 (every dataset)."""


@dataclass(frozen=True)
class TaskRequest:
    """What the command line asks of a layout reader."""

    root: Path
    split: str
    names: Sequence[str] | None = None
    resolution: str = ""
    allow_gaps: bool = False


@dataclass(frozen=True)
class ScoringInputs:
    """The ground truth an ``evaluation`` benchmark reads: a dataset folder, a split, a resolution folder."""

    dataset_path: Path
    split: str
    resolution: str = ""


class Scores(Protocol):
    csv_paths: tuple[Path, Path]

    def headline(self) -> str: ...


def score_vost(results: Path, inputs: ScoringInputs, workers: int | None) -> Scores:
    return score_results(results, inputs.dataset_path, inputs.split, workers)


def benchmark_scorer(benchmark: str) -> Callable[[Path, ScoringInputs, int | None], Scores]:
    """Scores a results folder with the ``evaluation`` benchmark and writes its CSVs there."""

    def score(results: Path, inputs: ScoringInputs, workers: int | None) -> Scores:
        return score_benchmark(results, inputs.dataset_path, inputs.split, benchmark, inputs.resolution, workers)

    return score


def same_layout(request: TaskRequest, tasks: Sequence[VideoTask], workdir: Path) -> ScoringInputs | str:
    """The dataset folder itself holds the ground truth the benchmark reads."""
    return ScoringInputs(request.root, request.split, request.resolution)


def longvideo_inputs(request: TaskRequest, tasks: Sequence[VideoTask], workdir: Path) -> ScoringInputs | str:
    return ScoringInputs(request.root, request.split, longvideos.RESOLUTION)


def lvos_inputs(request: TaskRequest, tasks: Sequence[VideoTask], workdir: Path) -> ScoringInputs | str:
    """A DAVIS-layout view of LVOS for ``--benchmark longvideos`` (the split list and a link to the
    annotations), or why it cannot score these results."""
    later = [task.name for task in tasks if len(task.references) > 1]
    if later:
        return (
            f"objects appear after the first frame in {len(later)} sequence(s) (e.g. {later[0]}), and "
            "--benchmark longvideos counts only the first frame's objects (a later id is an error); score with "
            "the LVOS toolkit, https://github.com/LingyiHongfd/lvos-evaluation"
        )
    view = workdir / "lvos_as_davis"
    lists = view / davis.SPLITS_FOLDER / str(longvideos.YEAR)
    lists.mkdir(parents=True)
    (lists / f"{request.split}.txt").write_text("".join(f"{task.name}\n" for task in tasks))
    (view / davis.ANNOTATIONS_FOLDER).mkdir()
    annotations = lvos.split_folder(request.root, request.split) / lvos.ANNOTATIONS_FOLDER
    (view / davis.ANNOTATIONS_FOLDER / longvideos.RESOLUTION).symlink_to(
        annotations.resolve(), target_is_directory=True
    )
    return ScoringInputs(view, request.split, longvideos.RESOLUTION)


Builder = Callable[[TaskRequest, GapRule], list[VideoTask]]
InputsPlan = Callable[[TaskRequest, Sequence[VideoTask], Path], ScoringInputs | str]


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark: how to read it, its defaults, where its results go and how they are scored."""

    name: str
    description: str
    build: Builder
    default_split: str
    default_root: Path
    scorer: str | None
    """The ``evaluation`` benchmark that scores it here; None when only its server does."""
    score: Callable[[Path, ScoringInputs, int | None], Scores] | None = None
    scoring_inputs: InputsPlan = same_layout
    server: str = ""
    """Where results of the splits not scored here are uploaded."""
    unscored_splits: tuple[str, ...] = ()
    """Splits without public ground truth (scored by the server only)."""
    split_aliases: dict[str, str] = field(default_factory=dict)
    resolutions: tuple[str, ...] = ()
    """Resolution folders (``--resolution``; the first is the default); empty: the option does not apply."""
    results_folder: str = ""
    """Sub-folder of ``--out`` that receives ``<video>/<frame>.png`` (``Annotations`` for the servers)."""
    gap_rule: GapRule = GapRule()
    max_size: float = TEST_MAX_SIZE
    single_object: bool = False
    records_dataset: bool = True
    """Whether the run settings name the dataset (VOST folders predate the option and stay as they were)."""

    def resolve_split(self, split: str | None) -> str:
        split = split or self.default_split
        return self.split_aliases.get(split, split)

    def resolve_resolution(self, resolution: str | None) -> str:
        if resolution is None:
            return self.resolutions[0] if self.resolutions else ""
        if resolution not in self.resolutions:
            allowed = f"one of {', '.join(self.resolutions)}" if self.resolutions else "not an option"
            raise ConfigError(f"--resolution {resolution}: for --dataset {self.name} it is {allowed}")
        return resolution

    def tasks(self, request: TaskRequest) -> list[VideoTask]:
        return self.build(request, self.gap_rule)

    def is_scored_here(self, split: str) -> bool:
        return self.score is not None and split not in self.unscored_splits

    def settings(self, split: str, resolution: str) -> dict[str, Any]:
        """What the run settings record about the dataset (empty for VOST, see ``records_dataset``)."""
        if not self.records_dataset:
            return {}
        return {"dataset": {"name": self.name, "resolution": resolution, "single_object": self.single_object}}


def _vost(request: TaskRequest, gap_rule: GapRule) -> list[VideoTask]:
    return vost.eval_tasks(request.root, request.split, request.names, request.allow_gaps)


def _davis(year: int, single_object: bool) -> Builder:
    def build(request: TaskRequest, gap_rule: GapRule) -> list[VideoTask]:
        return davis.davis_tasks(
            request.root,
            request.split,
            request.names,
            year=year,
            resolution=request.resolution,
            single_object=single_object,
            gap_rule=gap_rule,
            allow_gaps=request.allow_gaps,
        )

    return build


def _youtubevos(year: int | None, **options: Any) -> Builder:
    def build(request: TaskRequest, gap_rule: GapRule) -> list[VideoTask]:
        return youtubevos.youtubevos_tasks(
            request.root,
            request.split,
            request.names,
            year=year,
            gap_rule=gap_rule,
            allow_gaps=request.allow_gaps,
            **options,
        )

    return build


def _longvideos(request: TaskRequest, gap_rule: GapRule) -> list[VideoTask]:
    return longvideos.longvideo_tasks(
        request.root, request.split, request.names, gap_rule=gap_rule, allow_gaps=request.allow_gaps
    )


def _lvos(request: TaskRequest, gap_rule: GapRule) -> list[VideoTask]:
    return lvos.lvos_tasks(request.root, request.split, request.names, gap_rule=gap_rule, allow_gaps=request.allow_gaps)


def _youtubevos_spec(year: int, server: str) -> DatasetSpec:
    return DatasetSpec(
        f"youtubevos{year}",
        f"YouTube-VOS {year} (objects added on their first frame; outputs for the server)",
        _youtubevos(year),
        default_split="valid",
        default_root=Path("datasets/YTB"),
        scorer=None,
        server=server,
        split_aliases=dict(youtubevos.SPLIT_ALIASES),
        results_folder=youtubevos.ANNOTATIONS_FOLDER,
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "vost",
            "VOST (J and J_tr)",
            _vost,
            default_split="val",
            default_root=Path("datasets/VOST"),
            scorer="vost",
            score=score_vost,
            gap_rule=GapRule(vost.MIN_LONG_TERM_GAP, vost.FRAMES_PER_GAP_STEP),
            records_dataset=False,
        ),
        DatasetSpec(
            "davis2017",
            "DAVIS 2017 (val scored here; test-dev by the server)",
            _davis(2017, single_object=False),
            default_split="val",
            default_root=Path("datasets/DAVIS"),
            scorer="davis2017",
            score=benchmark_scorer("davis2017"),
            server="https://codalab.lisn.upsaclay.fr/competitions/6812",
            unscored_splits=("test-dev",),
            split_aliases=dict(davis.SPLIT_ALIASES),
            resolutions=davis.RESOLUTIONS,
        ),
        DatasetSpec(
            "davis2016",
            "DAVIS 2016 (single object)",
            _davis(2016, single_object=True),
            default_split="val",
            default_root=Path("datasets/DAVIS"),
            scorer="davis2016",
            score=benchmark_scorer("davis2016"),
            split_aliases=dict(davis.SPLIT_ALIASES),
            resolutions=davis.RESOLUTIONS,
            single_object=True,
        ),
        _youtubevos_spec(2018, "https://codalab.lisn.upsaclay.fr/competitions/7685"),
        _youtubevos_spec(2019, "https://codalab.lisn.upsaclay.fr/competitions/6066"),
        DatasetSpec(
            "mose",
            "MOSE (the YouTube-VOS layout; outputs for the server)",
            _youtubevos(
                None,
                meta_required=False,
                other_meta_names=("meta_{split}.json",),
                what="MOSE",
                website="https://henghuiding.github.io/MOSE/",
            ),
            default_split="valid",
            default_root=Path("datasets/MOSE"),
            scorer=None,
            server="https://codalab.lisn.upsaclay.fr/competitions/10703",
            split_aliases=dict(youtubevos.SPLIT_ALIASES),
            results_folder=youtubevos.ANNOTATIONS_FOLDER,
        ),
        DatasetSpec(
            "lvos",
            "LVOS (later objects from the meta file; scored here with --benchmark longvideos when every "
            "object is in the first frame)",
            _lvos,
            default_split="valid",
            default_root=Path("datasets/LVOS"),
            scorer="longvideos",
            score=benchmark_scorer("longvideos"),
            scoring_inputs=lvos_inputs,
            server="https://codalab.lisn.upsaclay.fr/competitions/8767",
            unscored_splits=("test",),
            split_aliases=dict(lvos.SPLIT_ALIASES),
        ),
        DatasetSpec(
            "longvideos",
            "the AFB-URR long videos (single object, sparse ground truth)",
            _longvideos,
            default_split="val",
            default_root=Path("datasets/long_videos"),
            scorer="longvideos",
            score=benchmark_scorer("longvideos"),
            scoring_inputs=longvideo_inputs,
            single_object=True,
        ),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]
