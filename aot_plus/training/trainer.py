"""VOST fine-tuning loop: resumable, reproducible on CPU, single- or multi-GPU through ``torchrun``.

Fixes of official bugs (RMEM_SPEC §8.2.5): gradients are clipped after ``backward`` (the official
non-AMP path clipped before it, a no-op); the run stops exactly at ``total_steps``; every step reseeds
the model's random draws from (seed, step, rank), so runs are repeatable and resume exactly.

A resume starts from the newest checkpoint that reads back whole and finite, and only with the run's
recorded settings (``config.yaml``) unless ``allow_config_change`` says otherwise.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from ..checkpoints import LoadReport, check_finite, load_checkpoint, read_checkpoint, read_state_dict, save_atomic
from ..data.vost_train import VOSTTrainClips
from ..distributed import Ranks, resolve_device, start_process_group
from ..errors import CheckpointError, ConfigError, RunError
from ..files import replace_atomically
from ..models import AOT, build_model
from ..yaml_config import plain
from .config import TrainConfig
from .ema import ModelEma
from .schedules import (
    apply_learning_rates,
    aux_loss_weight,
    param_groups,
    sequential_training_started,
    topk_fraction,
)
from .sequence import SequenceTrainingStep

log = logging.getLogger(__name__)
CHECKPOINT_PATTERN = re.compile(r"save_step_(\d+)\.pth$")
LOG_FIELDS = ["step", "loss", "aux_loss", "prediction_loss", "lr", "seconds"]
CHECKED_PARTS = ("encoder", "LSTT", "decoder")
"""Parts of the model that an ``--init`` checkpoint must mostly supply."""
TRAINING_CHECKPOINT_KEYS = ("state_dict", "optimizer", "ema", "step")
CONFIG_FILE = "config.yaml"
CHANGES_FILE = "config_changes.yaml"
FREE_ON_RESUME = frozenset({"run.resume", "run.allow_config_change", "run.device", "run.out_dir", "train.workers"})
"""Settings that may differ between a run and its resume without counting as a change: the two resume
flags themselves; the device (where the run continues; another kind of device gives the same run to
float precision, not bitwise); the run folder (found by reading it, so a moved folder or another
spelling of its path is the same run); the data-loading workers (each item is drawn from
(seed, epoch, index), so they change no result). Every other setting counts, the paths of the data and
of the ``--init`` weights included: their names are the run's record of what it trained on."""


@dataclass
class TrainRun:
    """Where a run writes, and how it is launched."""

    model: str
    data_root: Path
    out_dir: Path
    init: Path | None = None  # full official checkpoint (e.g. R50_DeAOTL_PRE_YTB_DAV.pth)
    encoder_init: Path | None = None  # ImageNet ResNet-50 (torchvision file)
    resume: bool = False
    amp: str | None = None  # None, "fp16" or "bf16"
    device: str | None = None
    model_overrides: dict = field(default_factory=dict)  # model config fields to replace, e.g. temporal_pe
    allow_config_change: bool = False  # on resume: go on under settings other than the recorded ones


class _StepSampler(Sampler[int]):
    """This rank's items of one epoch, starting at a given batch (to resume mid-epoch)."""

    def __init__(self, num_items: int, batch_per_rank: int, dist_info: Ranks, seed: int, epoch: int, first_batch: int):
        order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        global_batch = batch_per_rank * dist_info.world_size
        usable = num_items // global_batch * global_batch
        batches = order[:usable].view(-1, dist_info.world_size, batch_per_rank)[first_batch:, dist_info.rank]
        self.indices = batches.flatten().tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class _RunSampler(Sampler[tuple[int, int]]):
    """This rank's (epoch, item) keys from a given step to the end of the run, each epoch in the order of
    `_StepSampler`: one DataLoader, and one set of worker processes, serves the whole run (a loader per
    epoch started its workers anew every few steps on a small dataset)."""

    def __init__(
        self,
        dataset_size: int,
        batch_per_rank: int,
        dist_info: Ranks,
        seed: int,
        steps: tuple[int, int],
        batches_per_epoch: int,
    ):
        self.dataset_size = dataset_size
        self.batch_per_rank = batch_per_rank
        self.dist_info = dist_info
        self.seed = seed
        self.start_step, self.total_steps = steps
        self.batches_per_epoch = batches_per_epoch

    def __iter__(self):
        step = self.start_step
        while step < self.total_steps:
            epoch, first_batch = divmod(step, self.batches_per_epoch)
            indices = _StepSampler(
                self.dataset_size, self.batch_per_rank, self.dist_info, self.seed, epoch, first_batch
            ).indices
            batches = min(len(indices) // self.batch_per_rank, self.total_steps - step)
            if batches == 0:
                raise RuntimeError(f"epoch {epoch} has no batch of {self.batch_per_rank} for this rank")
            yield from ((epoch, index) for index in indices[: batches * self.batch_per_rank])
            step += batches

    def __len__(self) -> int:
        return (self.total_steps - self.start_step) * self.batch_per_rank


def _collate(items: list[dict]) -> dict:
    return {
        "images": torch.stack([x["images"] for x in items]),
        "labels": torch.stack([x["labels"] for x in items]),
        "obj_nums": [int(x["obj_num"]) for x in items],
    }


def checkpoint_steps(folder: Path) -> list[int]:
    """Steps of the ``save_step_<n>.pth`` files in ``folder``, ascending."""
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.search(p.name)))


def load_imagenet_encoder(model: AOT, path: Path) -> None:
    """Initialises the ResNet-50 encoder from a torchvision ImageNet file (layer4 and fc are not used)."""
    state = read_state_dict(path)
    if "layer1.0.conv1.weight" not in state:
        raise CheckpointError(f"{path}: not a torchvision ResNet-50 state dict (no layer1.0.conv1.weight)")
    encoder_state = {
        k: v for k, v in state.items() if not k.startswith(("fc.", "layer4.")) and not k.endswith("num_batches_tracked")
    }
    missing, unexpected = model.encoder.load_state_dict(encoder_state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: does not fit the {model.cfg.encoder} encoder: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def _unfit_parts(model: AOT, report: LoadReport) -> list[str]:
    """The main parts of the model of which a checkpoint supplies less than half of the tensors.

    Judged per part, because the encoder alone holds most of the keys: a DeAOT file matches an AOT
    model's whole encoder but hardly any of its propagation layers. An original AOT file, which lacks
    the AOT+ memory projections, still fits most of them.
    """
    unfit = set(report.missing) | {entry.split(" ")[0] for entry in report.mismatched}
    keys = list(model.state_dict())
    parts = []
    for part in CHECKED_PARTS:
        part_keys = [k for k in keys if k.startswith(part + ".")]
        if part_keys and sum(k in unfit for k in part_keys) > len(part_keys) / 2:
            parts.append(part)
    return parts


def initialise(model: AOT, run: TrainRun) -> None:
    """Full-model init (official lenient loading), or encoder-only ImageNet init, or nothing (scratch)."""
    if run.init is not None:
        report = load_checkpoint(model, run.init, allow_partial=True)
        unfit = _unfit_parts(model, report)
        if unfit:
            raise CheckpointError(
                f"{run.init}: most {' and '.join(unfit)} weights of the {run.model} model are "
                f"missing from this file or have other shapes; is it a checkpoint of another "
                f"model? ({report.summary()})"
            )
        log.info("initialised from %s (%s)", run.init, report.summary())
    elif run.encoder_init is not None:
        load_imagenet_encoder(model, run.encoder_init)
        log.info("encoder initialised from %s", run.encoder_init)
    else:
        log.info("training from scratch (random initialisation)")


class Trainer:
    """Owns the model, optimiser, EMA, data and checkpoints of one training run."""

    def __init__(self, cfg: TrainConfig, run: TrainRun):
        self.cfg, self.run = cfg, run
        self.dist = Ranks.from_env()
        self.device = resolve_device(run.device, self.dist)
        if self.dist.distributed:
            start_process_group(self.dist, self.device)
        if cfg.batch_size % self.dist.world_size:
            raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by {self.dist.world_size} processes")
        self.batch_per_rank = cfg.batch_size // self.dist.world_size
        self.ckpt_dir = run.out_dir / "ckpt"
        self.ema_dir = run.out_dir / "ema_ckpt"
        self._check_out_dir()

        torch.manual_seed(cfg.seed)  # the weights that no checkpoint sets are drawn from the seed
        self.model = build_model(run.model, **run.model_overrides)
        self.config_changes = self._check_resumed_config() if run.resume else {}
        initialise(self.model, run)
        self.model.to(self.device).train()
        self.ema = ModelEma(self.model, cfg.total_steps)
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, cfg.base_lr, cfg.weight_decay), lr=cfg.base_lr, weight_decay=cfg.weight_decay
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=run.amp == "fp16")
        step_module = SequenceTrainingStep(self.model, cfg.long_term_gap, id_shuffle=cfg.id_shuffle)
        self.step_module = (
            step_module
            if self.dist.world_size == 1
            else DistributedDataParallel(
                step_module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        )  # linear_KMem is in the checkpoints but never used
        self.dataset = VOSTTrainClips(
            run.data_root,
            "train",
            seq_len=cfg.seq_len,
            max_gap=cfg.max_gap,
            ignore_thresh=cfg.ignore_thresh,
            merge_prob=cfg.merge_prob,
            crop_size=cfg.crop_size,
            short_edge=cfg.short_edge,
            scale=cfg.scale,
            max_obj=self.model.cfg.max_objects,
            seed=cfg.seed,
        )
        self.dataset.samples_per_epoch = max(len(self.dataset), cfg.batch_size)
        self.batches_per_epoch = len(self.dataset) // cfg.batch_size
        self.start_step = self._resume() if run.resume else 0

    # ------------------------------------------------------------------------------------------ run
    def train(self) -> Path:
        """Trains to ``total_steps``; returns the final EMA checkpoint."""
        if self.dist.is_main:
            self._record_config()
        step = self.start_step
        bar = tqdm(
            total=self.cfg.total_steps, initial=step, desc="train", disable=not self.dist.is_main, dynamic_ncols=True
        )
        # The bar closes (ends its line) before an error is printed.
        with bar, self._log_writer() as (csv_writer, tensorboard):
            for batch in self._batches(step):
                started = time.perf_counter()
                loss, lr = self._train_step(batch, step)
                row = {
                    "step": step,
                    "loss": f"{loss.total.item():.6f}",
                    "aux_loss": f"{loss.aux.item():.6f}",
                    "prediction_loss": f"{loss.prediction.item():.6f}",
                    "lr": f"{lr:.8f}",
                    "seconds": f"{time.perf_counter() - started:.3f}",
                }
                step += 1
                if self.dist.is_main:
                    csv_writer.writerow(row)
                    if tensorboard is not None:
                        tensorboard.add_scalar("loss", loss.total.item(), step)
                        tensorboard.add_scalar("lr", lr, step)
                    bar.update(1)
                    bar.set_postfix(loss=row["loss"], lr=f"{lr:.2e}")
                if step % self.cfg.save_every == 0 or step == self.cfg.total_steps:
                    self._save(step)
        if self.dist.world_size > 1:
            dist.barrier()
        return self.ema_dir / f"save_step_{self.cfg.total_steps}.pth"

    def _train_step(self, batch: dict, step: int):
        cfg = self.cfg
        seed = cfg.seed * 1_000_003 + step * 101 + self.dist.rank
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        sequential = sequential_training_started(step, cfg.total_steps, cfg.sequential_start)
        lr = apply_learning_rates(
            self.optimizer,
            step,
            cfg.total_steps,
            cfg.base_lr,
            cfg.min_lr,
            frozen_keys=("patch_wise_id_bank",) if sequential else (),
        )
        images = batch["images"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.float16 if self.run.amp == "fp16" else torch.bfloat16)
            if self.run.amp
            else nullcontext()
        )
        with autocast:
            loss = self.step_module(
                images,
                labels,
                batch["obj_nums"],
                topk_fraction(step, cfg.total_steps),
                aux_loss_weight(step, cfg.total_steps),
                sequential,
                generator,
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.ema.update(self.model, step)
        return loss, lr

    def _batches(self, step: int) -> DataLoader:
        """The batches from ``step`` to the end of the run, in one loader."""
        steps = (step, self.cfg.total_steps)
        sampler = _RunSampler(
            len(self.dataset), self.batch_per_rank, self.dist, self.cfg.seed, steps, self.batches_per_epoch
        )
        return DataLoader(
            self.dataset,
            batch_size=self.batch_per_rank,
            sampler=sampler,
            drop_last=True,
            num_workers=self.cfg.workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
        )

    # ---------------------------------------------------------------------------------- checkpoints
    def _save(self, step: int) -> None:
        if not self.dist.is_main:
            return
        config = self.config_record()
        state = {
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict(),
            "step": step,
            "config": config,
        }
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        save_atomic(state, self.ckpt_dir / f"save_step_{step}.pth")
        ema_state = {k: v.detach().cpu() for k, v in self.ema.apply_to(self.model.state_dict()).items()}
        save_atomic({"state_dict": ema_state, "config": config}, self.ema_dir / f"save_step_{step}.pth")
        for folder in (self.ckpt_dir, self.ema_dir):
            for old in checkpoint_steps(folder)[: -self.cfg.keep_checkpoints]:
                (folder / f"save_step_{old}.pth").unlink()

    def _resume(self) -> int:
        path, state = self._newest_readable_checkpoint()
        try:
            self.model.load_state_dict(state["state_dict"])
        except RuntimeError:  # another model, let through by --allow-config-change
            raise CheckpointError(
                f"{path}: its weights have other keys or shapes than the {self.run.model} model "
                f"asked for; to train that model from them, start a new run with --init {path}"
            ) from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema.load_state_dict(state["ema"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        log.info("resumed from %s", path)
        return int(state["step"])

    def _newest_readable_checkpoint(self) -> tuple[Path, dict]:
        """The newest checkpoint that reads back whole and finite; the damaged newer ones are logged, not fatal:
        a crash or a full disk can spoil the last file, and the one before it resumes the run exactly."""
        problems = []
        for step in reversed(checkpoint_steps(self.ckpt_dir)):
            path = self.ckpt_dir / f"save_step_{step}.pth"
            try:
                state = read_training_checkpoint(path, self.device)
            except CheckpointError as err:
                problems.append(str(err))
                continue
            if problems:
                log.warning("%s; resuming from %s instead", "; ".join(problems), path)
            return path, state
        raise RunError(f"{self.ckpt_dir}: no readable checkpoint to resume from ({'; '.join(problems)})")

    def _check_out_dir(self) -> None:
        """Before anything is built: a new run needs a folder without checkpoints, a resume one with them."""
        if not self.run.resume and checkpoint_steps(self.ckpt_dir):
            raise RunError(
                f"{self.ckpt_dir}: holds checkpoints of an earlier run; pass --resume to continue "
                "it or choose another --out"
            )
        if self.run.resume and not checkpoint_steps(self.ckpt_dir):
            raise RunError(f"{self.ckpt_dir}: no checkpoint to resume from")

    def config_record(self) -> dict:
        """The run's settings as plain values: saved as config.yaml and inside every checkpoint."""
        run = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.run).items()}
        return {"run": run, "train": self.cfg.to_dict(), "model": plain(self.model.cfg)}

    def _check_resumed_config(self) -> dict[str, dict]:
        """The settings of this resume that differ from the run's record (`FREE_ON_RESUME` aside).

        Refused unless ``allow_config_change``, so that a resume cannot silently become another run; with
        it, each change is logged and `_record_config` appends it to config_changes.yaml.
        """
        path = self.run.out_dir / CONFIG_FILE
        if not path.is_file():
            log.warning(
                "%s: not found (a run from before config records), so the settings cannot be checked "
                "against the original run's; going on with the ones given and recording them",
                path,
            )
            return {}
        changes = config_differences(recorded_config(self.run.out_dir), self.config_record())
        if changes and not self.run.allow_config_change:
            raise RunError(
                f"{path}: --resume with settings other than this run's: {describe_changes(changes)}; "
                f"resume with the run's settings, or pass --allow-config-change to go on with the new "
                f"ones (recorded in {CHANGES_FILE})"
            )
        for key, change in changes.items():
            log.warning("resuming with another setting (--allow-config-change): %s", describe_changes({key: change}))
        return changes

    def _record_config(self) -> None:
        """A new run writes config.yaml; a resume keeps it, the record of the original run, and appends the
        changes it was allowed to config_changes.yaml."""
        if not self.run.resume or not (self.run.out_dir / CONFIG_FILE).is_file():
            self._write_yaml(CONFIG_FILE, self.config_record())
        elif self.config_changes:
            entries = read_changes(self.run.out_dir)
            entries.append({"resumed_from_step": self.start_step, "changes": self.config_changes})
            self._write_yaml(CHANGES_FILE, entries)

    def _write_yaml(self, name: str, content: dict | list) -> None:
        self.run.out_dir.mkdir(parents=True, exist_ok=True)
        with replace_atomically(self.run.out_dir / name) as temporary:
            temporary.write_text(yaml.safe_dump(content, sort_keys=False))

    def _log_writer(self):
        return _LogFiles(self.run.out_dir, self.start_step, self.dist.is_main)


def read_training_checkpoint(path: Path, map_location: torch.device) -> dict:
    """A full checkpoint of this trainer, refused (`CheckpointError`) unless it reads back whole, has every
    part a resume needs and holds only finite values (weights, EMA and optimiser moments alike)."""
    state = read_checkpoint(path, map_location)
    missing = [key for key in TRAINING_CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a training checkpoint (no {', '.join(missing)})")
    check_finite(state, path)
    return state


def _read_yaml(path: Path, expected: type) -> dict | list:
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RunError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(content, expected):
        raise RunError(
            f"{path}: expected a {expected.__name__}, got {type(content).__name__}: not a file this trainer wrote"
        )
    return content


def read_changes(out_dir: Path) -> list[dict]:
    """The entries of a run's config_changes.yaml, oldest first ([] without the file)."""
    path = out_dir / CHANGES_FILE
    return _read_yaml(path, list) if path.is_file() else []


def recorded_config(out_dir: Path) -> dict:
    """The settings a run last went on with: its config.yaml with the changes of config_changes.yaml applied."""
    record = _read_yaml(out_dir / CONFIG_FILE, dict)
    for entry in read_changes(out_dir):
        for key, change in entry["changes"].items():
            section, name = key.split(".", 1)
            fields = record.setdefault(section, {})
            if "to" in change:
                fields[name] = change["to"]
            else:
                fields.pop(name, None)
    return record


def config_differences(recorded: dict, requested: dict) -> dict[str, dict]:
    """``{"train.seed": {"from": 0, "to": 1}}`` for each ``section.field`` that differs, `FREE_ON_RESUME`
    aside; a side without the field (a setting added or removed since) has no ``from`` or ``to``."""
    recorded, requested = (yaml.safe_load(yaml.safe_dump(c)) for c in (recorded, requested))  # YAML's types
    changes = {}
    for section in dict.fromkeys([*requested, *recorded]):
        old, new = recorded.get(section) or {}, requested.get(section) or {}
        for name in dict.fromkeys([*new, *old]):
            key = f"{section}.{name}"
            if key not in FREE_ON_RESUME and (name in old, old.get(name)) != (name in new, new.get(name)):
                changes[key] = {
                    **({"from": old[name]} if name in old else {}),
                    **({"to": new[name]} if name in new else {}),
                }
    return changes


def describe_changes(changes: dict[str, dict]) -> str:
    """``train.seed: 0 -> 1, model.name: aott -> aots`` (values as in the YAML files, strings bare)."""

    def shown(change: dict, side: str) -> str:
        if side not in change:
            return "(absent)"
        value = change[side]
        return value if isinstance(value, str) else json.dumps(value)

    return ", ".join(f"{key}: {shown(change, 'from')} -> {shown(change, 'to')}" for key, change in changes.items())


class _LogFiles:
    """The per-step CSV log (kept consistent on resume) and, if installed, TensorBoard."""

    def __init__(self, out_dir: Path, start_step: int, enabled: bool):
        self.path, self.start_step, self.enabled = out_dir / "log.csv", start_step, enabled
        self.out_dir = out_dir

    def __enter__(self):
        if not self.enabled:
            return _NullWriter(), None
        kept = []
        if self.path.is_file():
            with self.path.open() as f:
                kept = [row for row in csv.DictReader(f) if int(row["step"]) < self.start_step]
        # Rows past the resumed checkpoint are dropped: a rewrite under a temp name, so a crash keeps the old log.
        with replace_atomically(self.path) as temporary, temporary.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        self.file = self.path.open("a", newline="")
        self.tensorboard = _tensorboard(self.out_dir)
        return _FlushingWriter(self.file), self.tensorboard

    def __exit__(self, *exc):
        if self.enabled:
            self.file.close()
            if self.tensorboard is not None:
                self.tensorboard.close()


class _FlushingWriter:
    """Writes each row through at once, so a killed run's log holds every step it finished."""

    def __init__(self, file):
        self.file = file
        self.writer = csv.DictWriter(file, fieldnames=LOG_FIELDS)

    def writerow(self, row: dict) -> None:
        self.writer.writerow(row)
        self.file.flush()


class _NullWriter:
    def writerow(self, row: dict) -> None:
        pass


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))
