"""One training forward pass over a batch of clips, as the official AOT/DeAOT engine runs it.

Frame 0 is the reference (its own decoding gives the auxiliary loss); frames 1..L-1 are predicted in
turn. After each prediction the memories are written with the ground truth of that frame (with its
ignore mask) or, once sequential training has started, with the model's own prediction. Ids are
randomly shuffled per sample so that no id is tied to one kind of object.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import random_id_permutation
from ..memory import FifoPolicy, GroupMemory
from ..models import AOT, mask_unused_slots
from .losses import vos_loss


@dataclass
class SequenceLoss:
    total: torch.Tensor  # aux_weight * aux + prediction loss
    aux: torch.Tensor  # reference-frame loss, batch mean
    prediction: torch.Tensor  # mean over predicted frames and the batch


class SequenceTrainingStep(nn.Module):
    """Wraps the model so that DDP sees one module whose forward returns the loss."""

    def __init__(self, model: AOT, long_term_gap: int = 4, id_shuffle: bool = True):
        super().__init__()
        self.model = model
        self.long_term_gap = long_term_gap
        self.id_shuffle = id_shuffle

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        obj_nums: list[int],
        k_fraction: float,
        aux_weight: float,
        use_own_predictions: bool,
        generator: torch.Generator,
    ) -> SequenceLoss:
        """``images`` (B, L, 3, S, S) normalised, ``labels`` (B, L, S, S) with 255 = ignore."""
        batch, length = images.shape[:2]
        max_obj = self.model.cfg.max_objects
        if self.id_shuffle:
            permutation = random_id_permutation(batch, max_obj, generator).to(images.device)
        else:
            permutation = torch.eye(max_obj + 1, device=images.device).expand(batch, -1, -1)
        features = self.model.encode_image(images.flatten(0, 1))
        frame_features = [[f.view(batch, length, *f.shape[1:])[:, t] for f in features] for t in range(length)]
        pos_emb = self.model.position_embedding(tuple(features[-1].shape[-2:]), batch, images.device)
        num_objects = torch.tensor(obj_nums)

        def shuffled_id_embedding(label: torch.Tensor, use_ignore: bool = True) -> torch.Tensor:
            one_hot = self.model.one_hot_ids(label[:, None], use_ignore)
            ids = torch.einsum("bohw,bot->bthw", one_hot[:, :-1], permutation)  # the ignore channel stays
            return self.model.id_embedding(torch.cat([ids, one_hot[:, -1:]], dim=1))

        def decode(propagation, t: int) -> torch.Tensor:
            logits = self.model.decode(propagation, frame_features[t])
            return mask_unused_slots(torch.einsum("bohw,bto->bthw", logits, permutation), num_objects)

        def frame_loss(logits: torch.Tensor, t: int) -> torch.Tensor:
            upsampled = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=True)
            return vos_loss(upsampled, labels[:, t], obj_nums, k_fraction)

        # The reference frame: its ID comes from the ground truth, with an empty ignore channel.
        reference_id = shuffled_id_embedding(labels[:, 0], use_ignore=False)
        if use_own_predictions:
            reference_id = reference_id.detach()  # the ID bank is frozen once sequential training starts
        # A FIFO bank of the restricted bank's capacity: training clips never fill it.
        memory = GroupMemory(self.model, FifoPolicy(), self.long_term_gap)
        reference = memory.start(0, frame_features[0][-1], reference_id, pos_emb)
        # Only the aux loss may go without gradients: the memories are built from `reference`.
        with torch.set_grad_enabled(torch.is_grad_enabled() and aux_weight > 0):
            aux_loss = frame_loss(decode(reference, 0), 0).mean()

        losses = []
        for t in range(1, length):
            propagation = memory.read(frame_features[t][-1], pos_emb)
            logits = decode(propagation, t)
            losses.append(frame_loss(logits, t))
            if t == length - 1:
                break
            if use_own_predictions:
                upsampled = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=True)
                id_emb = shuffled_id_embedding(upsampled.argmax(dim=1)).detach()
            else:
                id_emb = shuffled_id_embedding(labels[:, t])
            memory.write(t, propagation, id_emb)
        prediction_loss = torch.stack(losses).mean()
        return SequenceLoss(aux_weight * aux_loss + prediction_loss, aux_loss.detach(), prediction_loss.detach())
