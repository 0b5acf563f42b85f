"""The training forward pass: the id shuffle switch."""

from __future__ import annotations

import torch

from aot_plus.models import ModelConfig, build_model
from aot_plus.training.sequence import SequenceTrainingStep


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, 3, 33, 33, generator=g)
    labels = torch.zeros(2, 3, 33, 33, dtype=torch.long)
    labels[:, :, 5:20, 5:20] = 1
    labels[:, :, 20:30, 10:30] = 2
    return images, labels


def _loss(step: SequenceTrainingStep, seed: int) -> float:
    images, labels = _batch()
    with torch.no_grad():
        return step(images, labels, [2, 2], 1.0, 1.0, False, torch.Generator().manual_seed(seed)).total.item()


def test_id_shuffle_draws_a_permutation_and_can_be_switched_off():
    torch.manual_seed(0)
    model = build_model(ModelConfig(encoder="mobilenetv2", num_layers=1)).eval()  # eval: no DropPath noise
    shuffled = SequenceTrainingStep(model, long_term_gap=1)
    fixed = SequenceTrainingStep(model, long_term_gap=1, id_shuffle=False)
    assert _loss(shuffled, 1) != _loss(shuffled, 2)  # another permutation, another loss
    assert _loss(fixed, 1) == _loss(fixed, 2)  # identity ids: the generator is not used
