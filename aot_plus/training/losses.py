"""Per-frame segmentation loss of the official training: 0.5 * top-k cross-entropy + 0.5 * soft Jaccard.

Labels are int64 id maps where 255 marks ignored pixels. All losses are per sample, shape (B,).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..labels import IGNORE_ID

JACCARD_EPSILON = 1e-6


def _check_shapes(logits: Tensor, labels: Tensor) -> None:
    if logits.ndim != 4 or labels.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"need logits (B, C, H, W) and labels (B, H, W), got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )


def topk_cross_entropy(logits: Tensor, labels: Tensor, k_fraction: float) -> Tensor:
    """Mean of the `int(k_fraction * H * W)` largest per-pixel cross-entropies of each sample.

    Ignored pixels have loss 0 but remain candidates (they count in H * W and can be among the top k).
    """
    _check_shapes(logits, labels)
    num_pixels = logits.shape[2] * logits.shape[3]
    k = int(k_fraction * num_pixels)
    if k < 1:
        raise ValueError(f"top-k fraction {k_fraction} of {num_pixels} pixels keeps no pixel")
    pixel_losses = F.cross_entropy(logits, labels, ignore_index=IGNORE_ID, reduction="none")
    return pixel_losses.flatten(1).topk(k, dim=1).values.mean(dim=1)


def soft_jaccard(logits: Tensor, labels: Tensor) -> Tensor:
    """Soft Jaccard loss over the non-ignored pixels, averaged over the classes present in each label.

    Per present class c with softmax p and one-hot g: 1 - sum(p g) / (sum(p g) + sum(p (1-g)) + sum((1-p) g) + 1e-6).
    A sample without any non-ignored pixel has loss 0 (the official code crashes there).
    """
    _check_shapes(logits, labels)
    probabilities = torch.softmax(logits, dim=1)
    losses = []
    for sample_probabilities, label in zip(probabilities, labels):
        valid = label != IGNORE_ID
        p = sample_probabilities[:, valid]
        target = label[valid]
        class_losses = []
        for c in range(p.shape[0]):
            g = (target == c).to(p.dtype)
            if g.sum() == 0:
                continue
            intersection = torch.sum(p[c] * g)
            denominator = intersection + torch.sum(p[c] * (1 - g)) + torch.sum((1 - p[c]) * g)
            class_losses.append(1 - intersection / (denominator + JACCARD_EPSILON))
        losses.append(torch.stack(class_losses).mean() if class_losses else logits.new_zeros(()))
    return torch.stack(losses)


def vos_loss(logits: Tensor, labels: Tensor, obj_nums: Tensor | list[int], k_fraction: float) -> Tensor:
    """0.5 * top-k cross-entropy + 0.5 * soft Jaccard per sample, on channels 0..obj_nums[b] of sample b.

    `logits` (B, C, H, W) must already be at the label resolution; labels may only hold ids 0..obj_num and 255.
    """
    _check_shapes(logits, labels)
    obj_nums = [int(n) for n in obj_nums]
    if len(obj_nums) != logits.shape[0]:
        raise ValueError(f"{len(obj_nums)} object counts for a batch of {logits.shape[0]}")
    if max(obj_nums) >= logits.shape[1]:
        raise ValueError(f"obj_num {max(obj_nums)} needs {max(obj_nums) + 1} channels, logits have {logits.shape[1]}")
    losses = []
    for index, obj_num in enumerate(obj_nums):
        sample_logits = logits[index : index + 1, : obj_num + 1]
        sample_labels = labels[index : index + 1]
        ids = sample_labels[sample_labels != IGNORE_ID]
        if ids.numel() and int(ids.max()) > obj_num:
            raise ValueError(f"sample {index}: label id {int(ids.max())} exceeds its obj_num {obj_num}")
        loss = 0.5 * topk_cross_entropy(sample_logits, sample_labels, k_fraction) + 0.5 * soft_jaccard(
            sample_logits, sample_labels
        )
        losses.append(loss)
    return torch.cat(losses)
