"""This process's place in a ``torchrun`` launch, its device and the process group (eval and training)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import DeviceError, RunError


@dataclass(frozen=True)
class Ranks:
    """This process's place in a ``torchrun`` launch (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        return cls(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(requested: str | None, ranks: Ranks) -> torch.device:
    """The device asked for (default: a GPU if there is one); a bare ``cuda`` means this process's local GPU."""
    device = torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {requested}: CUDA is not available on this machine; use --device cpu (GPUS=0)")
    if device.index is None:
        device = torch.device("cuda", ranks.local_rank)
    if device.index >= torch.cuda.device_count():
        raise DeviceError(
            f"{device} asked for, but {torch.cuda.device_count()} GPU(s) are visible; use at most "
            "that many processes (GPUS / --nproc_per_node)"
        )
    torch.cuda.set_device(device)
    return device


def start_process_group(ranks: Ranks, device: torch.device, timeout: datetime.timedelta | None = None) -> None:
    """NCCL between GPUs, gloo on the CPU."""
    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend,
        rank=ranks.rank,
        world_size=ranks.world_size,
        timeout=timeout,
        device_id=device if device.type == "cuda" else None,
    )


def any_rank_failed(failed: bool, device: torch.device) -> bool:
    """Whether this or any other rank failed (every rank must call it)."""
    flag = torch.tensor([int(failed)], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(flag)
    return bool(flag.item())


def raise_if_any_rank_failed(error: Exception | None, ranks: Ranks, device: torch.device, message: str) -> None:
    """After a step that may fail on some ranks (every rank calls it): raises this rank's ``error``, or,
    where this rank succeeded but another failed, ``RunError(message)``, so that no rank waits forever."""
    if ranks.distributed and any_rank_failed(error is not None, device) and error is None:
        raise RunError(message)
    if error is not None:
        raise error


def gather_on_main(value: object, ranks: Ranks) -> list[object]:
    """Every rank's ``value`` on rank 0, in rank order; other ranks get []."""
    if not ranks.distributed:
        return [value]
    gathered: list[object] | None = [None] * ranks.world_size if ranks.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered or []
