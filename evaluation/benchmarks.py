"""The protocols the scorer knows: VOST (the default), DAVIS 2017, DAVIS 2016 and sparse long videos."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evaluation.errors import EvaluationError

METRICS = ("J", "F")


@dataclass(frozen=True)
class Benchmark:
    """How one benchmark lays out its data and scores it."""

    name: str
    description: str
    davis_layout: bool
    """DAVIS layout (``JPEGImages/<res>/``, ``Annotations/<res>/``, ``ImageSets/<year>/``) or VOST's."""
    image_sets: str
    """Folder of the split lists under ``ImageSets/`` ("" for VOST)."""
    dense: bool
    """Every frame of ``JPEGImages/<res>/<seq>/`` must have an annotation PNG."""
    single_object: bool
    """All ids > 0 are one object (DAVIS 2016)."""
    strict_ids: bool
    """A predicted id above the number of objects is an error (DAVIS toolkit), not a warning (VOST)."""
    boundary: bool
    """F (and J&F) always; otherwise only with ``--metrics J,F``."""
    j_last: bool
    """J_last columns: J over the last quarter of the scored frames."""
    toolkit_decay: bool
    """Decay bins wrapped modulo 256 as the DAVIS toolkit does, unless ``--exact-decay``."""


BENCHMARKS = {
    "vost": Benchmark(
        "vost",
        "VOST: J and J_tr (J_last), as the official VOST evaluation",
        davis_layout=False,
        image_sets="",
        dense=False,
        single_object=False,
        strict_ids=False,
        boundary=False,
        j_last=True,
        toolkit_decay=False,
    ),
    "davis2017": Benchmark(
        "davis2017",
        "DAVIS 2017 semi-supervised: J, F and J&F, as davis2017-evaluation",
        davis_layout=True,
        image_sets="2017",
        dense=True,
        single_object=False,
        strict_ids=True,
        boundary=True,
        j_last=False,
        toolkit_decay=True,
    ),
    "davis2016": Benchmark(
        "davis2016",
        "DAVIS 2016: the DAVIS 2017 protocol with all objects merged into one",
        davis_layout=True,
        image_sets="2016",
        dense=True,
        single_object=True,
        strict_ids=True,
        boundary=True,
        j_last=False,
        toolkit_decay=True,
    ),
    "longvideos": Benchmark(
        "longvideos",
        "sparsely annotated long videos: J, F, J&F and J_last on the annotated frames, "
        "as RMem's davis2017-evaluation fork",
        davis_layout=True,
        image_sets="2017",
        dense=False,
        single_object=False,
        strict_ids=True,
        boundary=True,
        j_last=True,
        toolkit_decay=True,
    ),
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name``; EvaluationError for an unknown one."""
    if name not in BENCHMARKS:
        raise EvaluationError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def parse_metrics(text: str) -> tuple[str, ...]:
    """``"J"`` or ``"J,F"`` (any order, any case) as a tuple of metric names in the order J, F."""
    names = {part.strip().upper() for part in text.split(",") if part.strip()}
    unknown = names - set(METRICS)
    if unknown or not names:
        raise EvaluationError(f"metrics {text!r}: expected J or J,F")
    return tuple(metric for metric in METRICS if metric in names)


def scores_boundary(benchmark: Benchmark, metrics: Iterable[str] | None) -> bool:
    """Whether F is computed: always on the DAVIS benchmarks, on VOST only when ``metrics`` has F.

    ``metrics`` is None (the benchmark's default), ``("J",)`` or ``("J", "F")``.
    """
    if metrics is None:
        return benchmark.boundary
    chosen = set(metrics)
    if not chosen <= set(METRICS) or "J" not in chosen:
        raise EvaluationError(f"metrics {sorted(chosen)}: expected J or J,F")
    if benchmark.boundary and "F" not in chosen:
        raise EvaluationError(f"benchmark {benchmark.name} always scores J,F (its CSVs hold both)")
    return "F" in chosen
