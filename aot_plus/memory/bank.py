"""Storage of the long-term memory: per layer, per field, one tensor stacked over memory frames."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aot_plus.memory.base import EvictionEvidence, EvictionScores, MemoryPolicy

Entries = list[list[Tensor]]
"""One frame's memory: entries[layer][field], each (HW, B, C). AOT and DeAOT have fields (K, V); DeAOT's V
is its visual and ID values side by side."""

SCORE_FIELDS = ("relevance", "smoothed_relevance", "stay_counts", "bonus", "score")


@dataclass(frozen=True)
class MemoryEvent:
    """One write into a long-term memory bank and the policy's decision about it."""

    frame: int
    """The frame written (the first event of a bank is its reference frame)."""
    frames: tuple[int, ...]
    """Frames in the bank after the write, oldest first."""
    evicted: int | None = None
    """The frame that left the bank, if any."""
    scored_frames: tuple[int, ...] = ()
    """The entries the policy scored (those older than `frame`), empty when it did not score."""
    scores: EvictionScores | None = None
    """Per entry of `scored_frames`: relevance, smoothed relevance, stay count, bonus and score."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: frame, frames, evicted and, when scored, one list per score field."""
        event: dict[str, Any] = {"frame": self.frame, "frames": list(self.frames), "evicted": self.evicted}
        if self.scores is not None:
            event["scored_frames"] = list(self.scored_frames)
            event.update({name: getattr(self.scores, name).tolist() for name in SCORE_FIELDS})
        return event


class LongTermMemory:
    """Per-object-group storage of the long-term memory (owned by the inference session, never the model).

    Each field of each layer reads as one tensor (T, HW, B, C), oldest frame first, on the device of the
    entries. After every append the policy may evict one position; it is removed from every field, every
    layer and from `frames` alike.

    Storage is either functional (every write makes new tensors: what autograd needs, so training's) or
    in place (`in_place=True`, inference's): each field lives in one buffer of the policy's capacity, an
    eviction shifts the newer entries down by one slot and the new entry is copied into the last. The
    order and values are the same either way; in place, the tensors the model reads keep their addresses
    once the bank is full, which lets a CUDA graph read the bank (see ``aot_plus.inference.graphs``).
    """

    def __init__(self, policy: MemoryPolicy, in_place: bool = False) -> None:
        self.policy = policy
        self.in_place = in_place
        self._frames: list[int] = []
        self._layers: Entries = []  # in place: buffers with at least len(self) slots

    @property
    def frames(self) -> list[int]:
        """Frame indices in memory, oldest first."""
        return list(self._frames)

    def reset(self, frame: int, entries: Entries) -> MemoryEvent:
        """Start a new bank holding only `frame`, and reset the policy's state."""
        _check_entry_structure(entries)
        if self.in_place:
            slots = self.policy.capacity or _UNBOUNDED_SLOTS
            self._layers = [[_new_buffer(field, slots) for field in layer] for layer in entries]
            for layer, new_layer in zip(self._layers, entries):
                for buffer, new in zip(layer, new_layer):
                    buffer[0].copy_(new)
        else:
            self._layers = [[field.unsqueeze(0) for field in layer] for layer in entries]
        self._frames = [frame]
        self.policy.reset()
        return MemoryEvent(frame, (frame,))

    def append(self, frame: int, entries: Entries, evidence: EvictionEvidence | None = None) -> MemoryEvent:
        """Append `frame`, let the policy pick an eviction and apply it; the event says what happened.

        `evidence` is passed to the policy (see MemoryPolicy.select_eviction).
        """
        if not self._frames:
            raise RuntimeError("LongTermMemory.append called before reset: the bank has no frames")
        if frame <= self._frames[-1]:
            raise ValueError(f"memory frames must increase: cannot append frame {frame} after {self._frames[-1]}")
        self._check_matches_bank(entries)
        frames = self._frames + [frame]
        decision = self.policy.select_eviction(frames, evidence)
        position = decision.position
        if position is not None and not 0 < position < len(frames) - 1:
            raise RuntimeError(
                f"memory policy chose position {position} of {len(frames)}; the first and newest are kept"
            )
        if self.in_place:
            self._write_in_place(entries, position)
        else:
            self._layers = [
                [_append_field(stored, new, position) for stored, new in zip(layer, new_layer)]
                for layer, new_layer in zip(self._layers, entries)
            ]
        scored = tuple(frames[:-1]) if decision.scores is not None else ()
        evicted = None if position is None else frames.pop(position)
        self._frames = frames
        return MemoryEvent(frame, tuple(frames), evicted, scored, decision.scores)

    def layer(self, i: int) -> list[Tensor]:
        """Fields of layer `i`, each (T, HW, B, C), oldest frame first."""
        count = len(self._frames)
        return [stored[:count] for stored in self._layers[i]]

    def layers(self) -> list[list[Tensor]]:
        """Fields of every layer, each (T, HW, B, C), oldest frame first."""
        return [self.layer(i) for i in range(len(self._layers))]

    @property
    def full(self) -> bool:
        """Whether the bank holds as many entries as its policy's capacity (never, for an unbounded policy):
        from then on every append is followed by an eviction, and the bank's shapes stay the same."""
        return self.policy.capacity is not None and len(self._frames) >= self.policy.capacity

    def __len__(self) -> int:
        return len(self._frames)

    def _write_in_place(self, entries: Entries, evicted_position: int | None) -> None:
        """Applies an append (and the eviction of `evicted_position`, if any) to the buffers."""
        count = len(self._frames)
        if evicted_position is None:
            if count == self._layers[0][0].shape[0]:
                self._layers = [[_grown_buffer(stored) for stored in layer] for layer in self._layers]
            slot = count
        else:
            slot = count - 1
        for layer, new_layer in zip(self._layers, entries):
            for stored, new in zip(layer, new_layer):
                if evicted_position is not None and evicted_position < slot:
                    # clone: source and destination overlap, which copy_ does not allow
                    stored[evicted_position:slot] = stored[evicted_position + 1 : count].clone()
                stored[slot].copy_(new)

    def _check_matches_bank(self, entries: Entries) -> None:
        _check_entry_structure(entries)
        layout = [len(layer) for layer in self._layers]
        if [len(layer) for layer in entries] != layout:
            raise ValueError(
                f"memory entries have {[len(layer) for layer in entries]} fields per layer, the bank has {layout}"
            )
        for i, (layer, new_layer) in enumerate(zip(self._layers, entries)):
            for j, (stored, new) in enumerate(zip(layer, new_layer)):
                if new.shape != stored.shape[1:] or new.dtype != stored.dtype or new.device != stored.device:
                    raise ValueError(
                        f"memory entry layer {i} field {j} is {tuple(new.shape)} {new.dtype} on {new.device}, "
                        f"the bank holds {tuple(stored.shape[1:])} {stored.dtype} on {stored.device}"
                    )


_UNBOUNDED_SLOTS = 8
"""Slots an in-place bank whose policy has no capacity starts with, and adds whenever they run out: at most
that many unused entries of memory, and a copy of the bank every 8 writes instead of at every write."""


def _new_buffer(entry: Tensor, slots: int) -> Tensor:
    return entry.new_empty((slots, *entry.shape))


def _grown_buffer(stored: Tensor) -> Tensor:
    grown = _new_buffer(stored[0], stored.shape[0] + _UNBOUNDED_SLOTS)
    grown[: stored.shape[0]].copy_(stored)
    return grown


def _append_field(stored: Tensor, new: Tensor, evicted_position: int | None) -> Tensor:
    """`stored` (T, ...) with `new` appended and the entry at `evicted_position` (if any) removed, in one copy."""
    if evicted_position is None:
        return torch.cat([stored, new.unsqueeze(0)])
    return torch.cat([stored[:evicted_position], stored[evicted_position + 1 :], new.unsqueeze(0)])


def _check_entry_structure(entries: Entries) -> None:
    if not entries or any(not layer for layer in entries):
        raise ValueError("memory entries must be a non-empty list of layers, each a non-empty list of fields")
    for i, layer in enumerate(entries):
        for j, field in enumerate(layer):
            if not isinstance(field, Tensor) or field.dim() != 3:
                shape = tuple(field.shape) if isinstance(field, Tensor) else type(field).__name__
                raise ValueError(f"memory entry layer {i} field {j} must be a (HW, B, C) tensor, got {shape}")
