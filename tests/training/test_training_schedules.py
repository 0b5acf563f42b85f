"""Learning-rate, top-k, auxiliary-weight and EMA schedules against RMEM_SPEC §6, and the param groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aot_plus.training.schedules import (
    apply_learning_rates,
    aux_loss_weight,
    ema_decay,
    learning_rate,
    param_groups,
    sequential_training_started,
    topk_fraction,
)

TOTAL = 20000


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 1e-5),
        (500, 1.05e-4),
        (1000, 2e-4),
        (5000, 1.6359e-4),
        (10000, 1.16634e-4),
        (15000, 6.7149e-5),
        (20000, 1.0027e-5),
    ],
)
def test_learning_rate_matches_the_official_values(step: int, expected: float):
    assert learning_rate(step, TOTAL) == pytest.approx(expected, rel=5e-5)


def test_encoder_learning_rate_is_a_tenth_above_the_minimum():
    assert learning_rate(1000, TOTAL, encoder=True) == pytest.approx(1e-5 + 0.1 * 1.9e-4, rel=1e-12)
    assert learning_rate(5000, TOTAL, encoder=True) == pytest.approx(1e-5 + 0.1 * (1.6359e-4 - 1e-5), rel=1e-4)
    assert learning_rate(0, TOTAL, encoder=True) == pytest.approx(1e-5, rel=1e-12)


def test_topk_fraction_goes_from_all_pixels_to_15_percent_over_the_first_half():
    assert topk_fraction(0, TOTAL) == 1.0
    assert topk_fraction(5000, TOTAL) == pytest.approx(0.575, abs=1e-8)
    assert topk_fraction(10000, TOTAL) == pytest.approx(0.15, abs=1e-8)
    assert topk_fraction(15000, TOTAL) == 0.15 and topk_fraction(20000, TOTAL) == 0.15
    pixels = 465 * 465
    assert int(topk_fraction(0, TOTAL) * pixels) == 216225
    assert int(topk_fraction(5000, TOTAL) * pixels) == 124329  # 0.575 * 216225 = 124329.375
    assert int(topk_fraction(10000, TOTAL) * pixels) == 32433  # 0.15 * 216225 = 32433.75


def test_aux_loss_weight_decays_linearly_to_zero():
    assert aux_loss_weight(0, TOTAL) == 1.0
    assert aux_loss_weight(5000, TOTAL) == pytest.approx(0.75, abs=1e-9)
    assert aux_loss_weight(10000, TOTAL) == pytest.approx(0.5, abs=1e-9)
    assert 0.0 < aux_loss_weight(20000, TOTAL) < 1e-9
    assert aux_loss_weight(20001, TOTAL) == 0.0


@pytest.mark.parametrize(("updates", "expected"), [(1, 0.1818), (10, 0.55), (100, 0.9182), (1000, 0.99109)])
def test_ema_decay_matches_the_official_values(updates: int, expected: float):
    assert ema_decay(updates, TOTAL) == pytest.approx(expected, abs=5e-5)


def test_ema_decay_is_capped_by_a_tenth_of_the_run():
    assert ema_decay(20000, TOTAL) == pytest.approx(0.9995, abs=1e-12)
    assert ema_decay(10000, TOTAL) == pytest.approx(10001 / 10010, abs=1e-12)


def test_sequential_training_starts_halfway():
    assert not sequential_training_started(9999, TOTAL)
    assert sequential_training_started(10000, TOTAL)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm_weight = nn.Parameter(torch.ones(4))
        self.stem = nn.Parameter(torch.ones(4, 3), requires_grad=False)


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.conv_out = nn.Conv2d(4, 11, 1)


class Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.relative_emb_v = nn.Parameter(torch.zeros(225, 4))
        self.linear = nn.Linear(4, 4)


class ToyVOS(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cur_pos_emb = nn.Parameter(torch.zeros(1, 4))
        self.mem_pos_emb = nn.Parameter(torch.zeros(4, 4))
        self.encoder = Encoder()
        self.LSTT = Transformer()
        self.decoder = Decoder()
        self.patch_wise_id_bank = nn.Conv2d(12, 4, 17, bias=False)


EXPECTED_DECAY = {
    "cur_pos_emb": 0.07,
    "mem_pos_emb": 0.07,
    "encoder.conv.weight": 0.07,
    "encoder.conv.bias": 0.0,
    "encoder.norm_weight": 0.07,  # 1-D but inside the encoder (frozen-BN convention)
    "LSTT.relative_emb_v": 0.0,
    "LSTT.linear.weight": 0.07,
    "LSTT.linear.bias": 0.0,
    "decoder.norm.weight": 0.0,
    "decoder.norm.bias": 0.0,
    "decoder.conv_out.weight": 0.0,
    "decoder.conv_out.bias": 0.0,
    "patch_wise_id_bank.weight": 0.07,
}


def test_param_groups_apply_the_official_weight_decay_exemptions():
    groups = param_groups(ToyVOS(), base_lr=2e-4, weight_decay=0.07)
    assert {group["name"]: group["weight_decay"] for group in groups} == EXPECTED_DECAY
    assert {group["name"] for group in groups if group["is_encoder"]} == {
        "encoder.conv.weight",
        "encoder.conv.bias",
        "encoder.norm_weight",
    }
    assert all(len(group["params"]) == 1 and group["lr"] == 2e-4 for group in groups)


def test_param_groups_find_the_encoder_inside_a_wrapper():
    wrapper = nn.Module()
    wrapper.AOT = ToyVOS()
    groups = param_groups(wrapper, base_lr=2e-4, weight_decay=0.07)
    assert {group["name"] for group in groups if group["is_encoder"]} == {
        "AOT.encoder.conv.weight",
        "AOT.encoder.conv.bias",
        "AOT.encoder.norm_weight",
    }
    assert {group["name"].removeprefix("AOT."): group["weight_decay"] for group in groups} == EXPECTED_DECAY


def test_apply_learning_rates_sets_encoder_and_frozen_groups():
    model = ToyVOS()
    optimizer = torch.optim.AdamW(param_groups(model, 2e-4, 0.07), lr=2e-4, weight_decay=0.07)
    lr = apply_learning_rates(optimizer, 1000, TOTAL)
    assert lr == pytest.approx(2e-4)
    rates = {group["name"]: group["lr"] for group in optimizer.param_groups}
    assert rates["encoder.conv.weight"] == pytest.approx(2.9e-5) and rates["decoder.norm.weight"] == pytest.approx(2e-4)
    apply_learning_rates(optimizer, 10000, TOTAL, frozen_keys=("patch_wise_id_bank",))
    frozen = next(group for group in optimizer.param_groups if group["name"] == "patch_wise_id_bank.weight")
    assert frozen["lr"] == 0.0 and frozen["weight_decay"] == 0.0
    other = next(group for group in optimizer.param_groups if group["name"] == "mem_pos_emb")
    assert other["lr"] == pytest.approx(1.16634e-4, rel=5e-5) and other["weight_decay"] == 0.07
    before = model.patch_wise_id_bank.weight.detach().clone()
    model.patch_wise_id_bank.weight.sum().backward()
    optimizer.step()
    assert torch.equal(model.patch_wise_id_bank.weight, before)
