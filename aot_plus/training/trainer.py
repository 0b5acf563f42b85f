"""VOST fine-tuning loop: resumable, reproducible on CPU, single- or multi-GPU through ``torchrun``.

Fixes of official bugs (RMEM_SPEC §8.2.5): gradients are clipped after ``backward`` (the official
non-AMP path clipped before it, a no-op); the run stops exactly at ``total_steps``; every step reseeds
the model's random draws from (seed, step, rank), so runs are repeatable and resume exactly.
"""
from __future__ import annotations

import csv
import logging
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from ..checkpoints import CheckpointError, LoadReport, load_checkpoint, read_state_dict, save_atomic
from ..data.vost_train import VOSTTrainClips
from ..distributed import Ranks, resolve_device, start_process_group
from ..files import replace_atomically
from ..models import AOT, build_model
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


@dataclass
class TrainRun:
    """Where a run writes, and how it is launched."""

    model: str
    data_root: Path
    out_dir: Path
    init: Path | None = None              # full official checkpoint (e.g. R50_DeAOTL_PRE_YTB_DAV.pth)
    encoder_init: Path | None = None      # ImageNet ResNet-50 (torchvision file)
    resume: bool = False
    amp: str | None = None                # None, "fp16" or "bf16"
    device: str | None = None
    temporal_pe: bool = True


class _StepSampler(Sampler[int]):
    """This rank's items of one epoch, starting at a given batch (to resume mid-epoch)."""

    def __init__(self, num_items: int, batch_per_rank: int, dist_info: Ranks, seed: int, epoch: int,
                 first_batch: int):
        order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        global_batch = batch_per_rank * dist_info.world_size
        usable = num_items // global_batch * global_batch
        batches = order[:usable].view(-1, dist_info.world_size, batch_per_rank)[first_batch:, dist_info.rank]
        self.indices = batches.flatten().tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


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
    encoder_state = {k: v for k, v in state.items()
                     if not k.startswith(("fc.", "layer4.")) and not k.endswith("num_batches_tracked")}
    missing, unexpected = model.encoder.load_state_dict(encoder_state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: does not fit the {model.cfg.encoder} encoder: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")


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
            raise CheckpointError(f"{run.init}: most {' and '.join(unfit)} weights of the {run.model} model are "
                                  f"missing from this file or have other shapes; is it a checkpoint of another "
                                  f"model? ({report.summary()})")
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
            raise ValueError(f"batch_size {cfg.batch_size} is not divisible by {self.dist.world_size} processes")
        self.batch_per_rank = cfg.batch_size // self.dist.world_size
        self.ckpt_dir = run.out_dir / "ckpt"
        self.ema_dir = run.out_dir / "ema_ckpt"
        self._check_out_dir()

        torch.manual_seed(cfg.seed)   # the weights that no checkpoint sets are drawn from the seed
        self.model = build_model(run.model, temporal_pe=run.temporal_pe)
        initialise(self.model, run)
        self.model.to(self.device).train()
        self.ema = ModelEma(self.model, cfg.total_steps)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.base_lr, cfg.weight_decay),
                                           lr=cfg.base_lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=run.amp == "fp16")
        step_module = SequenceTrainingStep(self.model, cfg.long_term_gap, id_shuffle=cfg.id_shuffle)
        self.step_module = step_module if self.dist.world_size == 1 else DistributedDataParallel(
            step_module, device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=True)   # linear_KMem is in the checkpoints but never used
        self.dataset = VOSTTrainClips(
            run.data_root, "train", seq_len=cfg.seq_len, max_gap=cfg.max_gap, ignore_thresh=cfg.ignore_thresh,
            merge_prob=cfg.merge_prob, crop_size=cfg.crop_size, short_edge=cfg.short_edge, scale=cfg.scale,
            max_obj=self.model.cfg.max_objects, seed=cfg.seed)
        self.dataset.samples_per_epoch = max(len(self.dataset), cfg.batch_size)
        self.batches_per_epoch = len(self.dataset) // cfg.batch_size
        self.start_step = self._resume() if run.resume else 0

    # ------------------------------------------------------------------------------------------ run
    def train(self) -> Path:
        """Trains to ``total_steps``; returns the final EMA checkpoint."""
        if self.dist.is_main:
            self._write_config()
        step = self.start_step
        bar = tqdm(total=self.cfg.total_steps, initial=step, desc="train", disable=not self.dist.is_main,
                   dynamic_ncols=True)
        with self._log_writer() as (csv_writer, tensorboard):
            while step < self.cfg.total_steps:
                for batch in self._epoch_batches(step):
                    started = time.perf_counter()
                    loss, lr = self._train_step(batch, step)
                    row = {"step": step, "loss": f"{loss.total.item():.6f}", "aux_loss": f"{loss.aux.item():.6f}",
                           "prediction_loss": f"{loss.prediction.item():.6f}", "lr": f"{lr:.8f}",
                           "seconds": f"{time.perf_counter() - started:.3f}"}
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
                    if step >= self.cfg.total_steps:
                        break
        bar.close()
        if self.dist.world_size > 1:
            dist.barrier()
        return self.ema_dir / f"save_step_{self.cfg.total_steps}.pth"

    def _train_step(self, batch: dict, step: int):
        cfg = self.cfg
        seed = cfg.seed * 1_000_003 + step * 101 + self.dist.rank
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        sequential = sequential_training_started(step, cfg.total_steps, cfg.sequential_start)
        lr = apply_learning_rates(self.optimizer, step, cfg.total_steps, cfg.base_lr, cfg.min_lr,
                                  frozen_keys=("patch_wise_id_bank",) if sequential else ())
        images = batch["images"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        autocast = (torch.autocast(self.device.type, dtype=torch.float16 if self.run.amp == "fp16" else torch.bfloat16)
                    if self.run.amp else nullcontext())
        with autocast:
            loss = self.step_module(images, labels, batch["obj_nums"], topk_fraction(step, cfg.total_steps),
                                    aux_loss_weight(step, cfg.total_steps), sequential, generator)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.ema.update(self.model, step)
        return loss, lr

    def _epoch_batches(self, step: int):
        epoch, first_batch = divmod(step, self.batches_per_epoch)
        self.dataset.set_epoch(epoch)
        sampler = _StepSampler(len(self.dataset), self.batch_per_rank, self.dist, self.cfg.seed, epoch, first_batch)
        loader = DataLoader(self.dataset, batch_size=self.batch_per_rank, sampler=sampler, drop_last=True,
                            num_workers=self.cfg.workers, collate_fn=_collate,
                            pin_memory=self.device.type == "cuda")
        return loader

    # ---------------------------------------------------------------------------------- checkpoints
    def _save(self, step: int) -> None:
        if not self.dist.is_main:
            return
        state = {"state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                 "optimizer": self.optimizer.state_dict(), "ema": self.ema.state_dict(), "step": step}
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        save_atomic(state, self.ckpt_dir / f"save_step_{step}.pth")
        ema_state = {k: v.detach().cpu() for k, v in self.ema.apply_to(self.model.state_dict()).items()}
        save_atomic({"state_dict": ema_state}, self.ema_dir / f"save_step_{step}.pth")
        for folder in (self.ckpt_dir, self.ema_dir):
            for old in checkpoint_steps(folder)[: -self.cfg.keep_checkpoints]:
                (folder / f"save_step_{old}.pth").unlink()

    def _resume(self) -> int:
        steps = checkpoint_steps(self.ckpt_dir)
        if not steps:
            raise FileNotFoundError(f"{self.ckpt_dir}: no checkpoint to resume from")
        path = self.ckpt_dir / f"save_step_{steps[-1]}.pth"
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema.load_state_dict(state["ema"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        log.info("resumed from %s", path)
        return int(state["step"])

    def _check_out_dir(self) -> None:
        if not self.run.resume and checkpoint_steps(self.ckpt_dir):
            raise FileExistsError(f"{self.ckpt_dir}: holds checkpoints of an earlier run; pass --resume to continue "
                                  "it or choose another --out")

    def _write_config(self) -> None:
        self.run.out_dir.mkdir(parents=True, exist_ok=True)
        run = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.run).items()}
        text = yaml.safe_dump({"run": run, "train": self.cfg.to_dict(), "model": vars(self.model.cfg)},
                              sort_keys=False)
        with replace_atomically(self.run.out_dir / "config.yaml") as temporary:
            temporary.write_text(text)

    def _log_writer(self):
        return _LogFiles(self.run.out_dir, self.start_step, self.dist.is_main)


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
