"""The EMA of the trainable parameters: update rule, resumption and the EMA checkpoint layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aot_plus.training.ema import ModelEma


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(2, 2)
        self.head = nn.Linear(2, 1)
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)
        self.register_buffer("running_mean", torch.zeros(2))


def fill(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.fill_(value)


def test_update_follows_the_official_rule():
    model = Toy()
    fill(model, 1.0)
    ema = ModelEma(model, total_steps=20000)
    fill(model, 2.0)
    assert ema.update(model, step=0) == pytest.approx(2 / 11)
    torch.testing.assert_close(ema.shadow["head.weight"], torch.full((1, 2), 1 + 9 / 11))  # s -= (1 - d)(s - p)
    fill(model, 0.0)
    assert ema.update(model, step=1) == pytest.approx(3 / 12)
    torch.testing.assert_close(ema.shadow["encoder.bias"], torch.full((2,), 0.25 * 20 / 11))


def test_only_trainable_parameters_are_averaged():
    ema = ModelEma(Toy(), total_steps=100)
    assert set(ema.state_dict()) == {"encoder.weight", "encoder.bias", "head.weight", "head.bias"}


def test_apply_to_builds_the_full_ema_checkpoint():
    model = Toy()
    fill(model, 1.0)
    ema = ModelEma(model, total_steps=20000)
    fill(model, 2.0)
    ema.update(model, step=0)
    with torch.no_grad():
        model.frozen.fill_(7.0)
        model.running_mean.fill_(3.0)
    current = model.state_dict()
    averaged = ema.apply_to(current)
    assert list(averaged) == list(current)
    torch.testing.assert_close(averaged["head.weight"], torch.full((1, 2), 1 + 9 / 11))
    torch.testing.assert_close(averaged["frozen"], torch.full((3,), 7.0))
    torch.testing.assert_close(averaged["running_mean"], torch.full((2,), 3.0))
    assert torch.equal(model.head.weight, torch.full((1, 2), 2.0))  # the model itself is untouched
    with pytest.raises(KeyError, match="lacks the EMA parameters"):
        ema.apply_to({"frozen": current["frozen"]})


def test_apply_to_fills_every_name_of_a_shared_parameter():
    model = nn.Module()
    model.first = nn.Linear(2, 2)
    model.second = model.first
    ema = ModelEma(model, total_steps=100)
    with torch.no_grad():
        model.first.weight.add_(1.0)
    averaged = ema.apply_to(model.state_dict())
    assert set(averaged) == {"first.weight", "first.bias", "second.weight", "second.bias"}
    assert torch.equal(averaged["second.weight"], ema.shadow["first.weight"])
    assert not torch.equal(averaged["second.weight"], model.first.weight)


def test_a_resumed_ema_continues_exactly():
    torch.manual_seed(0)
    model = Toy()
    trajectory = [{name: torch.randn_like(p) for name, p in model.named_parameters()} for _ in range(5)]

    def run(ema: ModelEma, steps: range) -> None:
        for step in steps:
            model.load_state_dict({**model.state_dict(), **trajectory[step]})
            ema.update(model, step)

    start = {name: value.clone() for name, value in model.state_dict().items()}
    straight = ModelEma(model, total_steps=20000)
    run(straight, range(5))

    model.load_state_dict(start)
    first_half = ModelEma(model, total_steps=20000)
    run(first_half, range(3))
    checkpoint = first_half.apply_to(model.state_dict())
    resumed = ModelEma(model, total_steps=20000)
    resumed.load_state_dict(checkpoint)
    run(resumed, range(3, 5))
    for name, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value)


def test_load_state_dict_rejects_foreign_states():
    ema = ModelEma(Toy(), total_steps=100)
    state = ema.state_dict()
    with pytest.raises(KeyError, match="lacks parameter head.bias"):
        ema.load_state_dict({k: v for k, v in state.items() if k != "head.bias"})
    with pytest.raises(ValueError, match=r"head.weight has shape \(2, 2\), expected \(1, 2\)"):
        ema.load_state_dict({**state, "head.weight": torch.zeros(2, 2)})
