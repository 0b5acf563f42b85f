"""The CPU stand-in for CUDA graphs (tests/graph_replay.py) behaves as a graph: replays recompute from the
recorded tensors' current values, never from tensors that replaced them, and host reads are refused."""

from __future__ import annotations

import pytest
import torch

from tests.graph_replay import record


def test_replay_recomputes_from_the_recorded_inputs_current_values():
    x = torch.tensor([1.0, 2.0, 3.0])
    weights = torch.tensor([0.5, 0.25, 2.0])
    replay, out = record(lambda: (x * weights).cumsum(0).view(3, 1) + 1)
    assert out.flatten().tolist() == [1.5, 2.0, 8.0]
    x.copy_(torch.tensor([2.0, 0.0, 1.0]))  # overwritten in place: the replay sees it
    replay()
    assert out.flatten().tolist() == [2.0, 2.0, 4.0]


def test_replay_ignores_a_tensor_that_was_replaced_instead_of_overwritten():
    state = {"x": torch.ones(2)}
    replay, out = record(lambda: state["x"] * 3)
    state["x"] = torch.full((2,), 5.0)  # a new tensor: a graph would still read the old memory
    replay()
    assert out.tolist() == [3.0, 3.0]


def test_in_place_operators_replay_in_order():
    x = torch.tensor([1.0, -2.0])
    replay, out = record(lambda: (x + 1).mul_(2).clamp_(min=0))
    assert out.tolist() == [4.0, 0.0]
    x.fill_(3.0)
    replay()
    assert out.tolist() == [8.0, 8.0]


@pytest.mark.parametrize("host_read", [lambda x: float(x.sum()), lambda x: x.nonzero(), lambda x: x[x > 0]])
def test_host_reads_of_device_values_are_refused(host_read):
    x = torch.tensor([1.0, 0.0])
    with pytest.raises(RuntimeError, match="CUDA graph cannot capture"):
        record(lambda: host_read(x))
