"""The memories of one object group, as inference and training both read and write them.

A group of up to ``max_objects`` objects has a long-term memory (a `LongTermMemory` whose policy decides
evictions) and a short-term memory (the previous frame). The reference frame starts both. Every later
frame is first propagated from the memories (`read`), then written back with its ID embedding (`write`):
always into the short-term memory, and into the long-term memory every `long_term_gap` frames after the
last long-term write (or when forced, for a frame that brings new reference objects).

With ``in_place=True`` (inference) both memories are written into buffers they own, so that what a
frame reads keeps its addresses from frame to frame once the long-term bank is full (``static``); the
default makes new tensors at every write, as autograd needs (training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aot_plus.memory.bank import LongTermMemory, MemoryEvent
from aot_plus.memory.base import EvictionEvidence, MemoryPolicy
from aot_plus.models import AOT, Propagation


class GroupMemory:
    """Long-term bank, short-term memory and write schedule of one object group; the model stays stateless."""

    def __init__(self, model: AOT, policy: MemoryPolicy, long_term_gap: int, in_place: bool = False) -> None:
        if long_term_gap < 1:
            raise ValueError(f"long_term_gap must be >= 1, got {long_term_gap}")
        self.model = model
        self.long_term = LongTermMemory(policy, in_place=in_place)
        self.long_term_gap = long_term_gap
        self.short_term: list[list[Tensor]] | None = None
        self.events: list[MemoryEvent] = []
        """Every long-term write of this group, the reference frame first."""
        self._last_long_term_frame = 0

    @property
    def frames(self) -> list[int]:
        """Frame indices in the long-term memory, oldest first."""
        return self.long_term.frames

    @property
    def policy(self) -> MemoryPolicy:
        return self.long_term.policy

    @property
    def static(self) -> bool:
        """Whether every later read sees the same tensors (shapes and addresses) as the last: in place, with
        a full long-term bank."""
        return self.long_term.in_place and self.long_term.full

    def start(self, frame: int, embedding: Tensor, id_emb: Tensor, self_pos: Tensor | None = None) -> Propagation:
        """Starts both memories from a reference frame, which attends to itself; returns its propagation.

        ``embedding``: the frame's projected encoder embedding (B, C, h, w); ``id_emb``: its ID embedding.
        """
        propagation = self.model.propagate(embedding, None, None, id_emb=id_emb, self_pos=self_pos)
        long_entries, short_entries = self.model.memory_entries(propagation, id_emb)
        in_place = self.long_term.in_place
        self.short_term = [[_owned(t) for t in layer] for layer in short_entries] if in_place else short_entries
        self.events.append(self.long_term.reset(frame, long_entries))
        self._last_long_term_frame = frame
        return propagation

    def read(self, embedding: Tensor, self_pos: Tensor | None = None) -> Propagation:
        """Propagates both memories to a new frame; changes nothing."""
        if self.short_term is None:
            raise RuntimeError("GroupMemory.read before start: the memory has no reference frame")
        return self.model.propagate(embedding, self.long_term.layers(), self.short_term, self_pos=self_pos)

    def tensors_read(self) -> list[Tensor]:
        """Every memory tensor a `read` reads: the long-term fields, then the short-term ones."""
        if self.short_term is None:
            raise RuntimeError("GroupMemory.tensors_read before start: the memory has no reference frame")
        long_term = [t for layer in self.long_term.layers() for t in layer]
        return long_term + [t for layer in self.short_term for t in layer]

    def long_term_due(self, frame: int) -> bool:
        """Whether writing ``frame`` also writes the long-term memory."""
        return frame - self._last_long_term_frame >= self.long_term_gap

    def write(
        self,
        frame: int,
        propagation: Propagation,
        id_emb: Tensor,
        logits: Tensor | None = None,
        force_long_term: bool = False,
    ) -> MemoryEvent | None:
        """Writes a propagated frame with its ID embedding; returns the long-term event, if one was written.

        ``logits``: the frame's decoder logits (1, max_objects + 1, h, w), which a policy that scores
        entries (``needs_evidence``) weighs the attention with.
        """
        long_entries, short_entries = self.model.memory_entries(propagation, id_emb)
        write_long_term = force_long_term or self.long_term_due(frame)
        # The evidence is about the entries the frame read: gather it before the bank changes.
        evidence = self._evidence(propagation, logits) if write_long_term and self.policy.needs_evidence else None
        if self.long_term.in_place:
            for layer, new_layer in zip(self.short_term, short_entries):
                for stored, new in zip(layer, new_layer):
                    stored.copy_(new)
        else:
            self.short_term = short_entries
        if not write_long_term:
            return None
        event = self.long_term.append(frame, long_entries, evidence)
        self._last_long_term_frame = frame
        self.events.append(event)
        return event

    def _evidence(self, propagation: Propagation, logits: Tensor | None) -> EvictionEvidence:
        """Layer-0 attention over the bank's entries, and the foreground probability at token size."""
        if logits is None:
            raise ValueError(f"{type(self.policy).__name__} scores memory entries: pass the frame's logits to write")
        if logits.shape[0] != 1:
            raise ValueError(f"memory entries are scored for one video at a time, got a batch of {logits.shape[0]}")
        attention = self.model.long_term_attention_mass(propagation, self.long_term.layer(0)[0])[0]
        at_tokens = F.interpolate(logits, size=propagation.size_2d, mode="bilinear", align_corners=True)
        foreground = 1 - torch.softmax(at_tokens, dim=1)[0, 0].flatten()
        return EvictionEvidence(attention, foreground)


def _owned(entry: Tensor) -> Tensor:
    """A copy of `entry` in a buffer of its own with the same strides (entries may be views into a wider
    output of the model), so that reads of the copy compute exactly what reads of `entry` would."""
    buffer = torch.empty_strided(entry.shape, entry.stride(), dtype=entry.dtype, device=entry.device)
    return buffer.copy_(entry)
