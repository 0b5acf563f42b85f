"""Object bookkeeping: original mask ids <-> consecutive object indices, and groups of objects per pass.

Like the official evaluator, objects are indexed 1..n in the order of their sorted ids in the first
mask, and an ignore region (255) present in a reference mask is tracked as one more object (it is
written back as 255). Objects added later get the next indices, so earlier indices never shift.
"""

from __future__ import annotations

import numpy as np
import torch

from ..labels import IGNORE_ID


class ObjectIds:
    """Maps between original ids (as in annotation PNGs) and object indices (0 = background)."""

    def __init__(self) -> None:
        self.ids: list[int] = [0]

    @property
    def num_objects(self) -> int:
        return len(self.ids) - 1

    def register(self, mask: np.ndarray) -> list[int]:
        """Adds the ids of ``mask`` not seen before; returns them."""
        new = [int(v) for v in np.unique(mask) if v != 0 and int(v) not in self.ids]
        self.ids.extend(new)
        return new

    def to_indices(self, mask: np.ndarray) -> np.ndarray:
        """Original ids -> object indices (unregistered ids become background)."""
        lookup = np.zeros(256, dtype=np.uint8)
        lookup[self.ids] = np.arange(len(self.ids), dtype=np.uint8)
        return lookup[mask]

    def id_table(self) -> np.ndarray:
        """(256,) uint8: object index -> original id, indices above the object count -> 0 (the official
        write-back). A copy: objects registered later do not change it."""
        table = np.zeros(256, dtype=np.uint8)
        table[: len(self.ids)] = self.ids
        return table

    def to_ids(self, label: np.ndarray | torch.Tensor) -> np.ndarray:
        """Object indices -> original ids (through `id_table`)."""
        label = label.cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
        return np.take(self.id_table(), label.astype(np.uint8, copy=False))


def group_label(label: torch.Tensor, group: int, num_groups: int, group_size: int) -> torch.Tensor:
    """The label seen by one object group: its objects renumbered 1..group_size, others background.

    Ignore pixels (255) stay ignore in every group.
    """
    if num_groups == 1:
        return label
    first = group * group_size + 1
    inside = (label >= first) & (label < first + group_size)
    out = torch.where(inside, label - (first - 1), torch.zeros_like(label))
    return torch.where(label == IGNORE_ID, label, out)
