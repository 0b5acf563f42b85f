"""A CPU stand-in for a CUDA graph, so that the tests can check what a graph replay would compute.

A CUDA graph records the kernels a function launches and replays them on the same memory; nothing of
the Python code around them runs again. ``record`` does the same with the aten operators of a function
on any device: it runs the function once under a dispatch mode that keeps every operator with its
arguments, and its replay runs those operators again on the very tensors they saw, writing each result
into the tensor the operator returned at recording. So a replay reads whatever the recorded inputs hold
now, and a function that reads a tensor which the caller replaces (instead of overwriting it) between
replays gives stale results here as on a GPU. Operators that need the host to see device values (a CUDA
graph cannot capture those) raise at recording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

T = TypeVar("T")

_HOST_SYNCS = {
    torch.ops.aten._local_scalar_dense.default,
    torch.ops.aten.nonzero.default,
    torch.ops.aten.masked_select.default,
}
"""Operators whose output shape or value the host must read from the device."""

_MASK_INDEXING = {torch.ops.aten.index.Tensor, torch.ops.aten.index_put.default, torch.ops.aten.index_put_.default}
"""Indexing operators that read a boolean index on the host (``x[mask]``)."""


def _reads_device_values(func, args) -> bool:
    if func in _HOST_SYNCS:
        return True
    if func in _MASK_INDEXING:
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])
    return False


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[Any, tuple, dict, Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _reads_device_values(func, args):
            raise RuntimeError(f"{func} reads device values on the host: a CUDA graph cannot capture it")
        out = func(*args, **kwargs)
        self.ops.append((func, args, kwargs, out))
        return out


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def record(fn: Callable[[], T]) -> tuple[Callable[[], None], T]:
    """Runs ``fn`` once, recording its operators; returns their replay and ``fn``'s outputs, which every
    replay overwrites (the contract of ``aot_plus.inference.graphs.Recorder``)."""
    recorder = _Recorder()
    with recorder:
        outputs = fn()
    ops = recorder.ops

    def replay() -> None:
        for func, args, kwargs, recorded in ops:
            result = func(*args, **kwargs)
            for new, old in zip(tree_leaves(result), tree_leaves(recorded)):
                # In-place operators and views already wrote into, or look at, the recorded memory.
                if isinstance(old, torch.Tensor) and not _shares_memory(new, old):
                    old.copy_(new)

    return replay, outputs
