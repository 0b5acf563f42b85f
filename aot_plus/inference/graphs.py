"""Recording device work once and replaying it: what the session's CUDA graphs are made of.

A CUDA graph replays the kernels a function launched at recording, on the same memory; none of the
Python around them runs again. So a recorded function must do device work only (no host reads of device
values) and read only tensors that stay where they are: its inputs are copied into recorded tensors before
every replay, and the memories it reads are written in place (``aot_plus.memory``, ``in_place=True``).
On the CPU the tests use a stand-in ``Recorder`` with the same contract (``tests/graph_replay.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import torch

Recorder = Callable[[Callable[[], Any]], tuple[Callable[[], None], Any]]
"""Records a function once; returns its replay and the function's outputs, which every replay overwrites."""


def record_cuda_graph(fn: Callable[[], Any]) -> tuple[Callable[[], None], Any]:
    """The ``Recorder`` of CUDA graphs: ``fn`` is captured after two warm-up runs on a side stream (cuDNN's
    algorithm choice and the allocator settle outside the capture)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = fn()
    return graph.replay, outputs


class Graph:
    """A function of some tensors, recorded once and replayed: a call copies its inputs into the recorded
    ones, replays and returns the recorded outputs, which the next call overwrites.

    ``key`` says what else the recording depends on (sizes, the addresses of the memories it reads): its
    owner records anew when the key changes.
    """

    def __init__(
        self,
        record: Recorder,
        fn: Callable[[list[torch.Tensor]], Any],
        inputs: list[torch.Tensor],
        key: Hashable,
    ) -> None:
        self.key = key
        self.inputs = [x.clone() for x in inputs]
        self.replay, self.outputs = record(lambda: fn(self.inputs))

    def __call__(self, inputs: list[torch.Tensor]) -> Any:
        for recorded, x in zip(self.inputs, inputs):
            recorded.copy_(x)
        self.replay()
        return self.outputs
