"""VOST training clips for fine-tuning, as sampled by the official AOT+/RMem trainer (RMEM_SPEC §6).

A clip is a reference frame followed by `seq_len - 1` frames at random gaps of 1..`max_gap` annotated
frames, from a sequence read forwards or (p = 0.5) backwards. The reference is a frame with more than
200 labelled pixels of which at most `ignore_thresh` are 255. The clip is redrawn (up to 5 times) until
every id seen in it, 255 included, is also in the reference. With probability `merge_prob`, or whenever
the crop left no object, a clip of another sequence is pasted over it (dynamic merge). The augmentations
are those of `aot_plus.data.transforms`.

Fixes of official bugs (RMEM_SPEC §8.2.6):
- Fix: images and labels are indexed through one list of frames, so the reference frame's position is its
  real position in the sequence (the official code used its label-list index as an image-list index).
- Fix: padding is labelled 255 (ignore), not 0 (background). The pasted clip of a dynamic merge is padded
  with 0 instead, so its padding stays transparent and the first clip shows through, as officially.

Other deliberate differences:
- A crop that keeps only ignore pixels counts as 0 objects (the official count was -1).
- Dataset problems (missing folders or files, sequences shorter than a clip, fewer than two sequences
  for the dynamic merge) are errors at construction instead of crashes or endless loops mid-training.
- Randomness comes from one generator per item, seeded by (seed, epoch, index), instead of the global
  `random` and `numpy.random` states, so runs are repeatable with any number of workers.
- Every image must have its annotation (VOST's JPEGImages holds exactly the annotated frames), and every
  sequence at least `seq_len` frames, so the official code paths for unlabelled frames (an all-255
  label) and for indexes past the sequence end (reflection) can never run and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from torch.utils.data import Dataset

from aot_plus.data.io import read_image, read_mask
from aot_plus.data.transforms import (
    balanced_random_crop,
    merge_clips,
    random_horizontal_flip,
    random_pad,
    random_scale,
    to_tensors,
)
from aot_plus.data.vost import TrainSequence, train_sequences
from aot_plus.errors import ConfigError, DatasetError
from aot_plus.labels import IGNORE_ID

MIN_REFERENCE_PIXELS = 200
"""A reference frame needs more than this many non-zero label pixels (255 included)."""
REFERENCE_TRIES = 40
GAP_TRIES = 10
MAX_CLIP_SPAN = 99
CONSISTENCY_TRIES = 5
MERGE_MIN_OBJ_PIXELS = 100


@dataclass
class RawClip:
    """A clip before augmentation: frame stems, float32 RGB images, uint8 labels; frame 0 is the reference."""

    frames: list[str]
    images: list[np.ndarray]
    labels: list[np.ndarray]


def is_consistent(labels: list[np.ndarray]) -> bool:
    """Whether every non-zero value (255 included) of frames 1.. also occurs in the reference frame 0."""
    reference_ids = set(np.unique(labels[0]).tolist())
    clip_ids = set().union(*(np.unique(label).tolist() for label in labels[1:]))
    return clip_ids - {0} <= reference_ids


def is_good_reference(label: np.ndarray, ignore_thresh: float) -> bool:
    """More than 200 non-zero pixels, of which the fraction that is 255 is at most `ignore_thresh`."""
    labelled = np.count_nonzero(label)
    ignored = np.count_nonzero(label == IGNORE_ID)
    return labelled > MIN_REFERENCE_PIXELS and ignored / labelled <= ignore_thresh


def choose_reference(num_frames: int, seq_len: int, rng: np.random.Generator, is_good: Callable[[int], bool]) -> int:
    """Position of the reference frame: a random one of the first `num_frames - seq_len` that `is_good`.

    After 40 draws without a good frame the last draw is used; with 1 or no candidates it is frame 0.
    """
    candidates = num_frames - seq_len
    if candidates <= 1:
        return 0
    rejected: set[int] = set()
    position = 0
    for _ in range(REFERENCE_TRIES):
        position = int(rng.integers(candidates))
        if position in rejected:
            continue
        if is_good(position):
            break
        rejected.add(position)
    return position


def _draw_gaps(count: int, max_gap: int, rng: np.random.Generator) -> list[int]:
    gaps: list[int] = []
    for _ in range(GAP_TRIES):
        gaps = [int(gap) for gap in rng.integers(1, max_gap + 1, size=count)]
        if sum(gaps) <= MAX_CLIP_SPAN:
            break
    return gaps


def clip_positions(num_frames: int, reference: int, seq_len: int, max_gap: int, rng: np.random.Generator) -> list[int]:
    """Positions of the clip's frames: the reference, then `seq_len - 1` random gaps of 1..`max_gap`.

    Gaps are redrawn up to 10 times until the last frame lies inside the sequence, else all gaps are 1.
    """
    if reference + seq_len > num_frames:
        raise ValueError(f"a clip of {seq_len} frames from frame {reference} does not fit in {num_frames} frames")
    gaps = [1] * (seq_len - 1)
    for _ in range(GAP_TRIES):
        drawn = _draw_gaps(seq_len - 1, max_gap, rng)
        if reference + sum(drawn) < num_frames:
            gaps = drawn
            break
    return [reference + int(offset) for offset in np.cumsum([0] + gaps)]


class VOSTTrainClips(Dataset):
    """Augmented VOST training clips; item i is a clip of sequence i % (number of sequences).

    Each item is a dict: `images` float32 (L, 3, S, S) ImageNet-normalised RGB, `labels` int64 (L, S, S)
    with 255 = ignore, `obj_num` (objects 1..obj_num are present in the reference) and `sequence` (name).
    Frame 0 is the reference. Items are deterministic functions of (seed, epoch, index): the key of an item
    is an index of the epoch `set_epoch` selected, or an (epoch, index) pair, which lets one DataLoader (and
    its workers, which hold a copy of the dataset) serve many epochs.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        seq_len: int = 15,
        max_gap: int = 3,
        ignore_thresh: float = 0.2,
        merge_prob: float = 0.2,
        crop_size: int = 465,
        short_edge: int = 480,
        scale: tuple[float, float] = (0.7, 1.3),
        max_obj: int = 10,
        samples_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        if crop_size % 16 != 1:
            raise ConfigError(f"crop_size must be 16k+1 (e.g. 465, 97, 65) for the stride-16 model, got {crop_size}")
        if seq_len < 2 or max_gap < 1:
            raise ConfigError(f"need seq_len >= 2 and max_gap >= 1, got seq_len={seq_len}, max_gap={max_gap}")
        self.root = Path(root)
        self.sequences = train_sequences(self.root, split)
        if len(self.sequences) < 2:
            raise DatasetError(f"{self.root}: split {split!r} has one sequence; the dynamic merge needs two or more")
        for sequence in self.sequences:
            if len(sequence.frames) < seq_len:
                raise DatasetError(
                    f"{sequence.label_dir}: {len(sequence.frames)} annotated frames, "
                    f"fewer than the clip length {seq_len}"
                )
        self.seq_len = seq_len
        self.max_gap = max_gap
        self.ignore_thresh = ignore_thresh
        self.merge_prob = merge_prob
        self.crop_size = crop_size
        self.short_edge = short_edge
        self.scale = scale
        self.max_obj = max_obj
        self.samples_per_epoch = samples_per_epoch or len(self.sequences)
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random clips the following items are."""
        self.epoch = epoch

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} items")
        rng = np.random.default_rng([self.seed, epoch, index])
        sequence_index = index % len(self.sequences)
        images, labels, obj_num = self._augmented_clip(self.sequences[sequence_index], rng, IGNORE_ID)
        if obj_num == 0 or rng.random() < self.merge_prob:
            other = int(rng.integers(len(self.sequences) - 1))
            if other >= sequence_index:
                other += 1
            pasted_images, pasted_labels, _ = self._augmented_clip(self.sequences[other], rng, label_pad=0)
            images, labels, obj_num = merge_clips(
                (images, labels), (pasted_images, pasted_labels), rng, self.max_obj, MERGE_MIN_OBJ_PIXELS
            )
        image_tensor, label_tensor = to_tensors(images, labels)
        return {
            "images": image_tensor,
            "labels": label_tensor,
            "obj_num": obj_num,
            "sequence": self.sequences[sequence_index].name,
        }

    def _augmented_clip(
        self, sequence: TrainSequence, rng: np.random.Generator, label_pad: int
    ) -> tuple[list[np.ndarray], list[np.ndarray], int]:
        clip = self.sample_clip(sequence, rng)
        images, labels = clip.images, clip.labels
        images, labels = random_scale(images, labels, rng, self.short_edge, self.scale)
        images, labels, obj_num = balanced_random_crop(images, labels, rng, self.crop_size, self.max_obj)
        images, labels = random_horizontal_flip(images, labels, rng)
        images, labels = random_pad(images, labels, rng, self.crop_size, label_pad)
        return images, labels, obj_num

    def sample_clip(self, sequence: TrainSequence, rng: np.random.Generator) -> RawClip:
        """Draw the frames of one clip of `sequence` (direction, reference, gaps, consistency) and read them."""
        frames = sequence.frames[::-1] if rng.integers(2) == 1 else sequence.frames
        label_cache: dict[int, np.ndarray] = {}

        def label_at(position: int) -> np.ndarray:
            if position not in label_cache:
                label_cache[position] = read_mask(sequence.label_dir / f"{frames[position]}.png")
            return label_cache[position]

        def good(position: int) -> bool:
            return is_good_reference(label_at(position), self.ignore_thresh)

        for _ in range(CONSISTENCY_TRIES):
            reference = choose_reference(len(frames), self.seq_len, rng, good)
            positions = clip_positions(len(frames), reference, self.seq_len, self.max_gap, rng)
            labels = [label_at(position) for position in positions]
            if is_consistent(labels):
                break
        images = [
            read_image(sequence.image_dir / f"{frames[position]}.jpg").astype(np.float32) for position in positions
        ]
        for position, image, label in zip(positions, images, labels):
            if image.shape[:2] != label.shape or label.shape != labels[0].shape:
                raise DatasetError(
                    f"{sequence.label_dir / (frames[position] + '.png')}: label {label.shape} does not match "
                    f"image {image.shape[:2]} or the reference {labels[0].shape}"
                )
        return RawClip([frames[position] for position in positions], images, labels)
