"""Loading and saving model weights in the official checkpoint layouts.

Accepted files: ``{'state_dict': ...}`` (what the official trainer writes), ``{'model': ...}``, a bare
state dict, any of them with ``module.`` prefixes, and the original AOT/DeAOT ``*_PRE_YTB_DAV.pth``
files, whose 11-channel ID bank is copied into the first 11 of our 12 input channels and which carry
no temporal embedding (those parameters keep their initialisation, and the report says so).
Every file is read by the safe loader and refused in one line when it is empty, truncated, corrupt or
holds NaN or Inf values.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError
from .files import replace_atomically
from .models import AOT, ModelConfig, build_model

TEMPORAL_PE_KEYS = ("cur_pos_emb", "mem_pos_emb")
ID_BANK_KEY = "patch_wise_id_bank.weight"
_MAX_LISTED = 12


@dataclass
class LoadReport:
    """What ``load_checkpoint`` did beyond copying matching tensors."""

    missing: list[str] = field(default_factory=list)  # model keys absent from the file (kept as init)
    unexpected: list[str] = field(default_factory=list)  # file keys the model does not have (ignored)
    mismatched: list[str] = field(default_factory=list)  # same key, other shape (kept as init)
    adapted: list[str] = field(default_factory=list)  # 11-channel ID bank copied into 12 channels

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.adapted)

    def summary(self) -> str:
        parts = []
        for name in ("missing", "unexpected", "mismatched", "adapted"):
            keys = getattr(self, name)
            if keys:
                shown = ", ".join(keys[:_MAX_LISTED]) + (
                    f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED else ""
                )
                parts.append(f"{name}: {shown}")
        return "; ".join(parts) or "all keys matched"


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """What a checkpoint file holds, read by the safe loader (``weights_only=True``); a missing, empty,
    truncated or otherwise unreadable file is one ``CheckpointError`` line naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes): an interrupted save or copy, or a full disk?")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused by the safe loader (weights_only=True): it holds Python objects "
            f"beyond tensors, or is corrupt: {_first_line(exc)}"
        ) from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, OSError) as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {_first_line(exc)}"
        ) from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:  # what a damaged byte of data.pkl gives
        raise CheckpointError(
            f"{path}: corrupt PyTorch checkpoint (its pickled structure does not decode: "
            f"{type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _first_line(exc: Exception) -> str:
    """The first line of an exception's message, or its type where the message is empty (an ``EOFError``)."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def floating_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every floating-point tensor in nested dicts, lists and tuples, with its dotted key."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            yield prefix, obj
    elif isinstance(obj, (dict, list, tuple)):
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in items:
            yield from floating_tensors(value, f"{prefix}.{key}" if prefix else str(key))


def check_finite(obj: Any, path: str | Path) -> None:
    """Refuses NaN or Inf values anywhere in what a checkpoint holds.

    torch checks no CRC when it loads, so one overwritten byte of a file loads silently as a NaN or Inf
    weight, and such a weight gives no error later, only empty masks (a J of 0). A run that diverged
    saves the same. The sum of a tensor is finite only if all its values are, so one pass decides almost
    always; only a sum that overflows (large but finite values) takes the exact test.
    """
    tensors = list(floating_tensors(obj))
    bad = [key for key, t in tensors if not (torch.isfinite(t.sum()) or torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} of {len(tensors)} floating tensors hold NaN or Inf values "
            f"(first {bad[0]}): the file is damaged, or was saved by a run that diverged"
        )


def read_state_dict(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint file (any official layout), ``module.`` prefixes removed,
    every floating tensor checked to be finite."""
    obj = read_checkpoint(path, map_location)
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path}: holds a {type(obj).__name__}, not a model state dict "
            "(expected a dict of tensors, or one under 'state_dict' or 'model')"
        )
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}
    check_finite(state, path)
    return state


def _looks_like_pre_rmem(state: dict[str, torch.Tensor], model_state: dict[str, torch.Tensor]) -> bool:
    """True for an original AOT/DeAOT file: 11-channel ID bank and no temporal embedding."""
    theirs, ours = state.get(ID_BANK_KEY), model_state.get(ID_BANK_KEY)
    return theirs is not None and ours is not None and theirs.shape[1] == ours.shape[1] - 1


def _family_hint(state: dict[str, torch.Tensor]) -> str:
    if "LSTT.layers.0.linear_QV.weight" in state:
        return " (the file holds a DeAOT model)"
    if "LSTT.layers.0.linear_Q.weight" in state:
        return " (the file holds an AOT model)"
    return ""


def load_checkpoint(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """Loads a checkpoint into ``model`` (on the model's device) and returns what did not match.

    Strict by default: missing or unexpected keys and shape mismatches raise one ``CheckpointError``
    listing them. ``allow_partial=True`` is the official lenient behaviour (used to initialise
    training): unmatched keys are skipped and model parameters without a counterpart keep their init.
    An original AOT/DeAOT file is always accepted with its ID bank adapted and the temporal
    embedding left as initialised.
    """
    device = next(model.parameters()).device
    state = read_state_dict(path, map_location=device)
    model_state = model.state_dict()
    pre_rmem = _looks_like_pre_rmem(state, model_state)
    report = LoadReport()
    merged = {}
    for key, value in state.items():
        target = model_state.get(key)
        if target is None:
            report.unexpected.append(key)
        elif value.shape == target.shape:
            merged[key] = value
        elif (
            key == ID_BANK_KEY
            and pre_rmem
            and value.shape[2:] == target.shape[2:]
            and value.shape[0] == target.shape[0]
        ):
            adapted = target.clone()
            adapted[:, :-1] = value
            merged[key] = adapted
            report.adapted.append(key)
        else:
            report.mismatched.append(f"{key} {tuple(value.shape)} vs {tuple(target.shape)}")
    report.missing = [k for k in model_state if k not in state]
    tolerated = set(TEMPORAL_PE_KEYS) if pre_rmem else set()
    problems = LoadReport([k for k in report.missing if k not in tolerated], report.unexpected, report.mismatched)
    if not allow_partial and not problems.clean:
        hint = ""
        if set(problems.missing) & set(TEMPORAL_PE_KEYS):
            hint = "; for a checkpoint without the RMem temporal embedding build the model with temporal_pe=False"
        raise CheckpointError(
            f"{path}: does not match {type(model).__name__}{_family_hint(state)}: {problems.summary()}{hint}"
        )
    model.load_state_dict(merged, strict=False)
    return report


def save_checkpoint(model: nn.Module, path: str | Path, **extra: Any) -> None:
    """Saves ``{'state_dict': model.state_dict(), **extra}`` (the official layout) atomically."""
    state = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}
    save_atomic(state, path)


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    with replace_atomically(Path(path)) as temporary:
        torch.save(obj, temporary)


RELEASED_CHECKPOINTS = {
    "r50_aotl": "aotplus_R50_AOTL_Temp_pe_Slot_4_ema_20000.pth",
    "r50_deaotl": "aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth",
}
"""Model config name -> file name of the released RMem weights."""
CHECKPOINT_FOLDER = "pretrain_models"
RMEM_README = "https://github.com/Restricted-Memory/RMem#checkpoint"
RANDOM_INIT_SEED = 0


def missing_checkpoint_message(path: Path, model_name: str) -> str:
    """What to download and where, for a checkpoint that is not there."""
    released = RELEASED_CHECKPOINTS.get(model_name)
    if released:
        what = f"download {released} (the released RMem {model_name} weights, linked in {RMEM_README})"
    else:
        what = f"train one, or use a released model ({', '.join(RELEASED_CHECKPOINTS)}; files linked in {RMEM_README})"
    return (
        f"{path}: checkpoint not found; {what} and put it in {CHECKPOINT_FOLDER}/, "
        "or pass --random-init to test the pipeline with random weights"
    )


def load_model(cfg: ModelConfig, checkpoint: Path | None, device: torch.device) -> tuple[AOT, LoadReport | None]:
    """The model of ``cfg`` in eval mode on ``device`` with the checkpoint's weights (strict), or, for
    ``checkpoint=None``, random weights drawn from a fixed seed (only to test a pipeline)."""
    if checkpoint is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = build_model(cfg)
        return model.to(device).eval(), None
    if not Path(checkpoint).is_file():
        raise CheckpointError(missing_checkpoint_message(Path(checkpoint), cfg.name))
    model = build_model(cfg)
    report = load_checkpoint(model, checkpoint)
    return model.to(device).eval(), report
