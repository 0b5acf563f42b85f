"""Per-frame CPU time of the official RMem code vs ``aot_plus.InferenceSession``, side by side, same weights.

    git clone https://github.com/Restricted-Memory/RMem ../RMem   # the official code, outside this repository
    pip install timm                                             # its models import timm; nothing else is needed
    OMP_NUM_THREADS=2 python benchmarks/cpu_vs_official.py --official ../RMem/aot_plus

The official code is imported at run time from ``--official`` (its ``aot_plus`` folder, holding ``networks/``,
``configs/``, ``utils/``, ``dataloaders/``); nothing of it is copied here and none of its files is edited. A few
torch functions are patched from outside so that it runs on the CPU: ``.cuda()`` returns self, the
``torch.cuda`` device/synchronisation calls are no-ops, ``torch.cuda.Event`` is a CPU timer, ``torch.load``
maps to the CPU and ``torch.zeros(..., device='cuda')`` (the engine's ignore mask) is built on the CPU.

Per model, both sides get the same weights (ours from ``build_model`` after ``torch.manual_seed(0)``, saved
with ``save_checkpoint`` and loaded by the official ``load_network``; checked equal key by key) and the same
synthetic frames (``benchmarks.inference.synthetic_video``). The official side is configured as
``tools/eval.py`` configures it with the flags of ``eval_vost.sh`` (stage ``pre_vost``, ``--ms 1.0``, no flip,
``--latter_mem_len 8``: a restricted bank of 1 + 8, temporal positional embedding from the model config) and
driven as ``networks/managers/evaluator.py`` drives its engine, with a long-term gap of 5.

For frames 1..N, the official frame and ours alternate in order (the official one first on odd frames) and
each is timed with ``time.perf_counter``:

* official: float32 image -> ``MultiRestrictSize`` + ``MultiToTensor`` (the eval transform) -> batch ->
  ``match_propogate_one_frame`` -> softmax -> argmax -> nearest resize -> ``update_memory`` -> ``.cpu()``;
* ours: ``session.step(rgb_uint8)`` (its own preprocessing included) and reading ``out.label`` (host copy).

The official debugging printout at each memory restriction stays in its timed frame (it is its code), and
``cv2.setNumThreads(0)``, which importing its ``video_transforms`` sets, applies to both sides; so does the
Python wrapper around ``torch.zeros``. Each side feeds back its own prediction (free-running). Per frame the
script compares the label maps (share of equal pixels) and the probabilities at the original size (max abs
difference). Frames after ``--warmup`` are averaged. The report (markdown table + JSON twin) goes to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import aot_plus  # noqa: E402
from benchmarks.inference import synthetic_video  # noqa: E402
from benchmarks.scorer import cpu_name  # noqa: E402

OFFICIAL_PACKAGES = ("networks", "configs", "utils", "dataloaders")
STAGE = "pre_vost"  # eval_vost.sh
EXP_NAME = "aotplus"  # eval_vost.sh
LATTER_MEM_LEN = 8  # eval_vost.sh --latter_mem_len 8
FORMER_MEM_LEN = 1  # tools/eval.py default
MULTISCALE = [1.0]  # eval_vost.sh --ms 1.0
MAX_RESOLUTION = 480 * 1.3  # tools/eval.py default of --max_resolution
LONG_TERM_GAP = 5  # the evaluator's max(round(frames / 30), 5) for videos up to 164 frames
SEED = 0


# ------------------------------------------------------------------------------------ CPU patches
class CpuEvent:
    """Stand-in for ``torch.cuda.Event(enable_timing=True)`` on the CPU."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.time = 0.0

    def record(self, *args: Any, **kwargs: Any) -> None:
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: CpuEvent) -> float:
        return 1000 * (end.time - self.time)


def _is_cuda(device: Any) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def patch_torch_for_cpu() -> None:
    """Lets the official CUDA-only code run on the CPU, without editing it. Nothing is restored."""
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.cuda.set_device = lambda *args, **kwargs: None
    torch.cuda.synchronize = lambda *args, **kwargs: None
    torch.cuda.empty_cache = lambda *args, **kwargs: None
    torch.cuda.Event = CpuEvent

    load = torch.load

    def load_on_cpu(f: Any, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        return load(f, "cpu", *args, **kwargs)

    zeros = torch.zeros

    def zeros_on_cpu(*args: Any, **kwargs: Any) -> torch.Tensor:
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = "cpu"
        return zeros(*args, **kwargs)

    torch.load = load_on_cpu
    torch.zeros = zeros_on_cpu


def quiet_official_warnings() -> None:
    """Deprecation notices the official code triggers on every run (timm import path, sdp_kernel, meshgrid)."""
    warnings.filterwarnings(
        "ignore", message=r"Importing from timm\.models\.layers is deprecated", category=FutureWarning
    )
    warnings.filterwarnings(
        "ignore", message=r".*torch\.backends\.cuda\.sdp_kernel\(\)` is deprecated", category=FutureWarning
    )
    warnings.filterwarnings("ignore", message=r"torch\.meshgrid: in an upcoming release", category=UserWarning)


# ------------------------------------------------------------------------------- official imports
@dataclass
class Official:
    """The official entry points this benchmark uses."""

    root: Path
    get_config: Callable[[str, str, str], Any]
    build_vos_model: Callable[..., torch.nn.Module]
    build_engine: Callable[..., torch.nn.Module]
    load_network: Callable[..., tuple[torch.nn.Module, list[str]]]
    transforms: ModuleType


def import_official(root: Path) -> Official:
    """Imports the official modules from ``root`` (its ``aot_plus`` folder) and checks where they came from."""
    root = root.resolve()
    missing = [p for p in (*OFFICIAL_PACKAGES, "tools/get_config.py") if not (root / p).exists()]
    if missing:
        sys.exit(f"--official {root}: not the official aot_plus folder (missing {', '.join(missing)})")
    # First on the path: ``configs`` is a namespace package there and would otherwise merge with ours.
    sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location("official_get_config", root / "tools" / "get_config.py")
    get_config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(get_config)
    models = importlib.import_module("networks.models")
    engines = importlib.import_module("networks.engines")
    checkpoint = importlib.import_module("utils.checkpoint")
    transforms = importlib.import_module("dataloaders.video_transforms")
    for module in (models, engines, checkpoint, transforms):
        if root not in Path(module.__file__).resolve().parents:
            sys.exit(f"{module.__name__} was imported from {module.__file__}, not from {root}")
    return Official(
        root, get_config.get_config, models.build_vos_model, engines.build_engine, checkpoint.load_network, transforms
    )


@contextmanager
def working_directory(path: str | Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def official_config(official: Official, model_name: str, checkpoint: Path, scratch: Path) -> Any:
    """The cfg ``tools/eval.py`` builds with the flags of ``eval_vost.sh`` (one process, one GPU)."""
    with working_directory(scratch):  # the config creates its ./results folders in the working directory
        cfg = official.get_config(STAGE, EXP_NAME, model_name)  # (no saved result_path/config.py to prefer)
    cfg.TEST_EMA = True
    cfg.TEST_GPU_ID, cfg.TEST_GPU_NUM = 0, 1
    cfg.TEST_CKPT_PATH = str(checkpoint)
    cfg.TEST_DATASET, cfg.TEST_DATASET_SPLIT = "vost", "val"
    cfg.TEST_FLIP = False
    cfg.TEST_MULTISCALE = MULTISCALE
    cfg.TEST_MIN_SIZE = None
    cfg.TEST_MAX_SIZE = MAX_RESOLUTION * 800.0 / 480.0
    cfg.EVAL_NAME, cfg.DEBUG_FIX_RANDOM, cfg.FIX_RANDOM = "debug", False, True
    cfg.FORMER_MEM_LEN, cfg.LATTER_MEM_LEN = FORMER_MEM_LEN, LATTER_MEM_LEN
    return cfg


def check_same_weights(official_model: torch.nn.Module, ours: torch.nn.Module) -> None:
    """Fails loudly unless both state_dicts hold the same keys with bitwise equal tensors."""
    theirs, mine = official_model.state_dict(), ours.state_dict()
    problems = [f"only in the official model: {k}" for k in theirs.keys() - mine.keys()]
    problems += [f"only in ours: {k}" for k in mine.keys() - theirs.keys()]
    for key in theirs.keys() & mine.keys():
        a, b = theirs[key], mine[key]
        if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b.to(a.device)):
            problems.append(f"differs: {key} official {tuple(a.shape)} {a.dtype}, ours {tuple(b.shape)} {b.dtype}")
    if problems:
        raise RuntimeError("the official model did not get our weights:\n  " + "\n  ".join(sorted(problems)[:40]))


# -------------------------------------------------------------------------------------- the runners
@dataclass
class FrameOutput:
    label: np.ndarray  # (H, W) uint8 object indices
    probs: torch.Tensor  # (1, C, H, W) float32 at the original size


class OfficialRunner:
    """The official eval engine, driven per frame as ``networks/managers/evaluator.py`` does."""

    def __init__(self, official: Official, cfg: Any):
        model = official.build_vos_model(cfg.MODEL_VOS, cfg).cuda(0)
        model, removed = official.load_network(model, cfg.TEST_CKPT_PATH, 0)
        if removed:
            raise RuntimeError(f"official load_network dropped keys: {removed}")
        self.model = model
        self.engine = official.build_engine(
            cfg.MODEL_ENGINE, phase="eval", aot_model=model, gpu_id=0, long_term_mem_gap=LONG_TERM_GAP
        )
        self.engine.eval()
        self.engine.long_term_mem_gap = LONG_TERM_GAP
        tr = official.transforms
        self.transform = [
            tr.MultiRestrictSize(
                cfg.TEST_MIN_SIZE, cfg.TEST_MAX_SIZE, cfg.TEST_FLIP, cfg.TEST_MULTISCALE, cfg.MODEL_ALIGN_CORNERS
            ),
            tr.MultiToTensor(),
        ]
        self.size = (0, 0)

    def _sample(self, rgb: np.ndarray, label: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The eval dataset's sample (float32 RGB, as ``read_image`` returns it), transformed and batched."""
        sample: dict[str, Any] = {"current_img": np.array(rgb, dtype=np.float32)}
        if label is not None:
            sample["current_label"] = label
        sample["meta"] = {"flip": False}
        samples = sample
        for transform in self.transform:
            samples = transform(samples)
        return {k: v.unsqueeze(0).cuda(0) for k, v in samples[0].items() if k != "meta"}  # DataLoader batch

    def reference(self, rgb: np.ndarray, mask: np.ndarray) -> None:
        self.size = mask.shape
        self.engine.restart_engine()
        sample = self._sample(rgb, mask)
        image = sample["current_img"]
        label = F.interpolate(sample["current_label"].float(), size=image.shape[2:], mode="nearest").int()
        self.engine.add_reference_frame(image, label, frame_step=0, obj_nums=[int(mask.max())])

    def step(self, rgb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        image = self._sample(rgb)["current_img"]
        logits = self.engine.match_propogate_one_frame(image, output_size=self.size)
        probs = torch.mean(torch.cat([torch.softmax(logits, dim=1)], dim=0), dim=0, keepdim=True)
        label = torch.argmax(probs, dim=1, keepdim=True).float()
        self.engine.update_memory(F.interpolate(label, size=self.engine.input_size_2d, mode="nearest"))
        return label.detach().cpu(), probs

    def memory_frames(self) -> list[int]:
        return [int(i) for i in self.engine.aot_engines[0].long_memories_indexes]


class OursRunner:
    """``aot_plus.InferenceSession`` with the restricted memory."""

    def __init__(self, model: torch.nn.Module):
        self.session = aot_plus.InferenceSession(model, memory="restricted", long_term_gap=LONG_TERM_GAP)

    def reference(self, rgb: np.ndarray, mask: np.ndarray) -> None:
        self.session.add_reference(rgb, mask)

    def step(self, rgb: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        out = self.session.step(rgb)
        return out.label, out.probs

    def memory_frames(self) -> list[int]:
        return self.session.memory_frames


def timed(run: Callable[[np.ndarray], tuple[Any, torch.Tensor]], rgb: np.ndarray) -> tuple[float, FrameOutput]:
    start = time.perf_counter()
    label, probs = run(rgb)
    seconds = time.perf_counter() - start
    label = label.numpy() if isinstance(label, torch.Tensor) else label
    return seconds, FrameOutput(label.reshape(label.shape[-2:]).astype(np.uint8), probs.float())


# ------------------------------------------------------------------------------------- measurement
@dataclass
class FrameRecord:
    frame: int
    official_first: bool
    official_ms: float
    ours_ms: float
    label_agreement: float
    max_prob_diff: float
    official_labels: list[int]  # object indices present in the official prediction
    official_foreground: float  # share of pixels the official prediction gives to an object


@dataclass
class ModelResult:
    model: str
    frames: list[FrameRecord] = field(default_factory=list)
    official_memory_frames: list[int] = field(default_factory=list)
    ours_memory_frames: list[int] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def build_pair(official: Official, model_name: str, scratch: Path) -> tuple[OfficialRunner, OursRunner]:
    """Both sides on the same weights: ours from seed 0, handed to the official model through a checkpoint."""
    torch.manual_seed(SEED)
    ours = aot_plus.build_model(model_name).eval()
    checkpoint = scratch / f"{model_name}.pth"
    aot_plus.save_checkpoint(ours, checkpoint)
    official_runner = OfficialRunner(official, official_config(official, model_name, checkpoint, scratch))
    check_same_weights(official_runner.model, ours)
    return official_runner, OursRunner(ours)


def run_model(official: Official, model_name: str, args: argparse.Namespace, scratch: Path) -> ModelResult:
    frames, mask = synthetic_video(args.height, args.width, args.frames + 1)
    official_runner, ours_runner = build_pair(official, model_name, scratch)
    official_runner.reference(frames[0], mask)
    ours_runner.reference(frames[0], mask)
    result = ModelResult(model_name)
    for t in range(1, args.frames + 1):
        official_first = t % 2 == 1
        if official_first:
            official_s, theirs = timed(official_runner.step, frames[t])
            ours_s, mine = timed(ours_runner.step, frames[t])
        else:
            ours_s, mine = timed(ours_runner.step, frames[t])
            official_s, theirs = timed(official_runner.step, frames[t])
        record = FrameRecord(
            frame=t,
            official_first=official_first,
            official_ms=1000 * official_s,
            ours_ms=1000 * ours_s,
            label_agreement=float((theirs.label == mine.label).mean()),
            max_prob_diff=float((theirs.probs - mine.probs).abs().max()),
            official_labels=[int(i) for i in np.unique(theirs.label)],
            official_foreground=float((theirs.label != 0).mean()),
        )
        result.frames.append(record)
        print(
            f"  {model_name} frame {t:>3}: official {record.official_ms:8.1f} ms, ours {record.ours_ms:8.1f} ms, "
            f"labels {100 * record.label_agreement:7.3f}% equal, max |dp| {record.max_prob_diff:.2e} "
            f"(official: labels {record.official_labels}, {100 * record.official_foreground:.1f}% foreground)",
            flush=True,
        )
    result.official_memory_frames = official_runner.memory_frames()
    result.ours_memory_frames = ours_runner.memory_frames()
    result.summary = summarise(result, args.warmup)
    return result


def summarise(result: ModelResult, warmup: int) -> dict[str, Any]:
    timed_frames = [r for r in result.frames if r.frame > warmup]
    official_ms = [r.official_ms for r in timed_frames]
    ours_ms = [r.ours_ms for r in timed_frames]
    differing = [r.frame for r in result.frames if r.label_agreement < 1.0]
    official_mean, ours_mean = statistics.fmean(official_ms), statistics.fmean(ours_ms)
    return {
        "averaged_frames": len(timed_frames),
        "official_ms_mean": official_mean,
        "official_ms_median": statistics.median(official_ms),
        "ours_ms_mean": ours_mean,
        "ours_ms_median": statistics.median(ours_ms),
        "official_fps": 1000 / official_mean,
        "ours_fps": 1000 / ours_mean,
        "speed_ratio": official_mean / ours_mean,  # = ours FPS / official FPS
        "label_agreement_min": min(r.label_agreement for r in result.frames),
        "max_prob_diff": max(r.max_prob_diff for r in result.frames),
        "first_frame_labels_differ": differing[0] if differing else None,
        "memory_frames_equal": result.official_memory_frames == result.ours_memory_frames,
    }


# ------------------------------------------------------------------------------------------- report
def header(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": f"{args.height}x{args.width}",
        "frames": args.frames,
        "warmup": args.warmup,
        "cpu": f"{cpu_name()} ({os.cpu_count()} logical cores)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "official": str(Path(args.official).resolve()),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
    }


def markdown(info: dict[str, Any], results: list[ModelResult]) -> str:
    lines = [
        "# CPU time per frame: official RMem vs `aot_plus.InferenceSession` (`benchmarks/cpu_vs_official.py`)",
        "",
        f"torch {info['torch']}, {info['threads']} thread(s), {info['size']}, {info['frames']} frames "
        f"(the first {info['warmup']} not averaged), 2 objects, restricted memory (1 + {LATTER_MEM_LEN}), "
        f"long-term gap {LONG_TERM_GAP}, fp32; CPU: {info['cpu']}; {info['date']}.",
        "",
        f"`{info['command']}`",
        "",
        "Same weights (seed 0, random), same synthetic frames, interleaved frame by frame; ms/frame as mean "
        "(median); each side feeds back its own prediction.",
        "",
        "| model | official ms/frame | ours ms/frame | official FPS | ours FPS | ratio (ours/official FPS) "
        "| label agreement (min over frames) | max prob diff | first frame labels differ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        s = result.summary
        first = s["first_frame_labels_differ"]
        lines.append(
            f"| {result.model} | {s['official_ms_mean']:.1f} ({s['official_ms_median']:.1f}) "
            f"| {s['ours_ms_mean']:.1f} ({s['ours_ms_median']:.1f}) | {s['official_fps']:.2f} | {s['ours_fps']:.2f} "
            f"| {s['speed_ratio']:.2f} | {100 * s['label_agreement_min']:.3f}% | {s['max_prob_diff']:.1e} "
            f"| {first if first is not None else 'none'} |"
        )
    return "\n".join(lines) + "\n"


def write_report(out: Path, info: dict[str, Any], results: list[ModelResult]) -> str:
    text = markdown(info, results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    twin = {"info": info, "results": [asdict(r) for r in results]}
    out.with_suffix(".json").write_text(json.dumps(twin, indent=1) + "\n")
    return text


# --------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", type=Path, required=True, help="the official checkout's aot_plus folder")
    p.add_argument("--models", nargs="+", default=["r50_deaotl", "r50_aotl"], choices=["r50_deaotl", "r50_aotl"])
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=427)
    p.add_argument("--frames", type=int, default=24, help="frames after the reference frame")
    p.add_argument("--warmup", type=int, default=4, help="first frames not averaged")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument(
        "--out", type=Path, help="report (default: benchmarks/results/cpu_vs_official_<H>x<W>_<cpu_tag()>.md)"
    )
    args = p.parse_args(argv)
    if args.frames <= args.warmup:
        p.error(f"--frames ({args.frames}) must exceed --warmup ({args.warmup})")
    if args.out is None:
        args.out = REPO / "benchmarks" / "results" / f"cpu_vs_official_{args.height}x{args.width}_{cpu_tag()}.md"
    return args


def cpu_tag() -> str:
    """The first two words of the CPU's name ("intel_xeon", "amd_epyc"): the ratio depends on the CPU, so
    the default report of one machine does not replace another's."""
    words = re.sub(r"\((R|TM)\)", "", cpu_name(), flags=re.IGNORECASE).split()[:2]
    return "_".join(re.sub(r"\W", "", word).lower() for word in words) or "cpu"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    patch_torch_for_cpu()
    quiet_official_warnings()
    official = import_official(args.official)
    info = header(args)
    print(f"torch {info['torch']}, {info['threads']} thread(s), {info['size']}, CPU {info['cpu']}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="cpu_vs_official_") as scratch, torch.no_grad():
        for model_name in args.models:
            results.append(run_model(official, model_name, args, Path(scratch)))
    print(write_report(args.out, info, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
