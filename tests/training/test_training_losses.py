"""The training loss on hand-made tensors: top-k cross-entropy, soft Jaccard and their per-sample mix."""

from __future__ import annotations

import math

import pytest
import torch

from aot_plus.training.losses import soft_jaccard, topk_cross_entropy, vos_loss

LN3 = math.log(3.0)


def three_pixels(channels: list[tuple[float, float, float]]) -> torch.Tensor:
    """Logits (1, C, 1, 3) from one row of 3 pixel values per channel."""
    return torch.tensor([[[list(values)] for values in channels]], dtype=torch.float32)


def labels(*values: int) -> torch.Tensor:
    return torch.tensor([[list(values)]])


def test_topk_cross_entropy_averages_the_hardest_pixels_and_counts_ignored_ones():
    logits = three_pixels([(0.0, 0.0, 5.0), (0.0, 2.0, -5.0)])
    target = labels(0, 0, 255)
    easy, hard = math.log(2.0), math.log(1.0 + math.exp(2.0))  # pixel 0: CE of (0, 0); pixel 1: of (0, 2)
    assert topk_cross_entropy(logits, target, 1.0).item() == pytest.approx((easy + hard + 0.0) / 3, rel=1e-6)
    assert topk_cross_entropy(logits, target, 0.7).item() == pytest.approx((easy + hard) / 2, rel=1e-6)  # k = 2
    assert topk_cross_entropy(logits, target, 0.5).item() == pytest.approx(hard, rel=1e-6)  # k = int(1.5) = 1
    with pytest.raises(ValueError, match="keeps no pixel"):
        topk_cross_entropy(logits, target, 0.3)


def test_soft_jaccard_skips_absent_classes_and_ignored_pixels():
    logits = three_pixels([(0.0, LN3, 0.0), (LN3, 0.0, 0.0)])  # softmax (0.25, 0.75), (0.75, 0.25), (0.5, 0.5)
    # Only class 1 is present: p = (0.75, 0.25), g = (1, 1): 1 - 1 / (1 + 0 + 1).
    assert soft_jaccard(logits, labels(1, 1, 255)).item() == pytest.approx(0.5, abs=1e-6)
    # Both classes present, each: intersection 0.25, false positive 0.75, false negative 0.75.
    assert soft_jaccard(logits, labels(0, 1, 255)).item() == pytest.approx(1 - 0.25 / 1.75, abs=1e-6)
    # The third pixel counted as class 0 changes the result, so ignoring it matters.
    assert soft_jaccard(logits, labels(0, 1, 0)).item() != pytest.approx(1 - 0.25 / 1.75, abs=1e-3)
    assert soft_jaccard(logits, labels(255, 255, 255)).item() == 0.0


def test_vos_loss_mixes_both_halves_on_the_object_channels_of_each_sample():
    first = three_pixels([(0.0, LN3, 0.0), (LN3, 0.0, 0.0), (100.0, 100.0, 100.0), (100.0, 100.0, 100.0)])
    second = torch.randn(1, 4, 1, 3, generator=torch.Generator().manual_seed(0))
    logits = torch.cat([first, second])
    target = torch.cat([labels(0, 1, 255), labels(3, 2, 0)])
    loss = vos_loss(logits, target, [1, 3], k_fraction=1.0)

    cross_entropy = (math.log(4.0) + math.log(4.0) + 0.0) / 3  # both labelled pixels have p = 0.25
    jaccard = 1 - 0.25 / 1.75
    assert loss.shape == (2,)
    assert loss[0].item() == pytest.approx(0.5 * cross_entropy + 0.5 * jaccard, abs=1e-6)
    expected_second = 0.5 * topk_cross_entropy(second, target[1:], 1.0) + 0.5 * soft_jaccard(second, target[1:])
    torch.testing.assert_close(loss[1:], expected_second)


def test_vos_loss_is_differentiable_and_ignores_unused_channels():
    logits = torch.randn(2, 5, 4, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    target = torch.randint(0, 2, (2, 4, 4), generator=torch.Generator().manual_seed(2))
    target[0, 0, 0] = 255
    vos_loss(logits, target, torch.tensor([1, 1]), k_fraction=0.5).sum().backward()
    assert logits.grad[:, 2:].abs().sum() == 0 and logits.grad[:, :2].abs().sum() > 0


def test_vos_loss_rejects_inconsistent_inputs():
    logits = torch.zeros(2, 3, 2, 2)
    target = torch.zeros(2, 2, 2, dtype=torch.long)
    target[1, 0, 0] = 2
    with pytest.raises(ValueError, match="sample 1: label id 2 exceeds its obj_num 1"):
        vos_loss(logits, target, [1, 1], 1.0)
    with pytest.raises(ValueError, match="obj_num 3 needs 4 channels, logits have 3"):
        vos_loss(logits, target, [1, 3], 1.0)
    with pytest.raises(ValueError, match="1 object counts for a batch of 2"):
        vos_loss(logits, target, [1], 1.0)
    with pytest.raises(ValueError, match="need logits"):
        vos_loss(logits, target[:, :1], [1, 2], 1.0)
