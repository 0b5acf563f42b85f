"""Training-clip augmentations of the official AOT+/RMem VOST recipe, on lists of numpy frames.

A clip is a list of RGB images (H, W, 3), float32 pixel values in 0..255, and a list of uint8 id maps
(H, W) where 0 is background, 1..K are objects and 255 is ignore. Frame 0 is the reference frame. Every
frame of a clip has the same size. Each random function takes a `numpy.random.Generator`, so a clip's
augmentation is fully determined by the generator it is given.

The official order is `random_scale`, `balanced_random_crop`, `random_horizontal_flip`, `random_pad`,
then `merge_clips` (dynamic merge, on already augmented clips) and `to_tensors`.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from aot_plus.labels import IGNORE_ID

"""Label value of pixels that no loss or metric counts."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_PAD_RGB = (124.0, 116.0, 104.0)
"""Pixel value of padding: the ImageNet mean rounded to integers, so padding normalises to about 0."""

Images = list[np.ndarray]
Labels = list[np.ndarray]


def random_scale(
    images: Images,
    labels: Labels,
    rng: np.random.Generator,
    short_edge: int = 480,
    scale_range: tuple[float, float] = (0.7, 1.3),
) -> tuple[Images, Labels]:
    """Resize the clip so its short edge becomes `short_edge` times a factor drawn from `scale_range`.

    Images use bicubic interpolation (float, so values may overshoot 0..255), labels nearest neighbour.
    """
    factor = rng.uniform(*scale_range)
    height, width = labels[0].shape
    factor *= short_edge / min(height, width)
    images = [cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC) for image in images]
    labels = [cv2.resize(label, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) for label in labels]
    return images, labels


def _objects_kept_by_crop(
    reference: np.ndarray, rng: np.random.Generator, max_obj: int, min_obj_pixels: int
) -> list[int]:
    """Ids of the cropped reference with more than `min_obj_pixels` pixels; a random `max_obj` of them at most."""
    ids, counts = np.unique(reference, return_counts=True)
    kept = [int(i) for i, n in zip(ids, counts) if i not in (0, IGNORE_ID) and n > min_obj_pixels]
    if len(kept) > max_obj:
        kept = [kept[i] for i in rng.permutation(len(kept))[:max_obj]]
    return kept


def relabel(label: np.ndarray, kept_ids: Sequence[int]) -> np.ndarray:
    """Map kept_ids[i] to i + 1, keep 255, and set every other id to background."""
    out = np.zeros(label.shape, dtype=np.uint8)
    for new_id, old_id in enumerate(kept_ids, start=1):
        out[label == old_id] = new_id
    out[label == IGNORE_ID] = IGNORE_ID
    return out


def balanced_random_crop(
    images: Images,
    labels: Labels,
    rng: np.random.Generator,
    size: int,
    max_obj: int = 10,
    max_tries: int = 5,
    min_obj_pixels: int = 100,
) -> tuple[Images, Labels, int]:
    """Crop a random `size` x `size` window (or the whole side where the clip is smaller) that shows objects.

    Up to `max_tries` windows are drawn until the reference frame keeps an object with more than
    `min_obj_pixels` pixels; otherwise the last window is used and the clip has no object. The kept
    objects (at most `max_obj`, a random subset if more) are renumbered 1..n in every frame; all other
    ids become background. Returns the cropped clip and n, the new object count.
    """
    height, width = labels[0].shape
    crop_h, crop_w = min(size, height), min(size, width)
    kept: list[int] = []
    for _ in range(max_tries):
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        kept = _objects_kept_by_crop(labels[0][top : top + crop_h, left : left + crop_w], rng, max_obj, min_obj_pixels)
        if kept:
            break
    window = (slice(top, top + crop_h), slice(left, left + crop_w))
    images = [image[window] for image in images]
    labels = [relabel(label[window], kept) for label in labels]
    return images, labels, len(kept)


def random_horizontal_flip(
    images: Images, labels: Labels, rng: np.random.Generator, prob: float = 0.5
) -> tuple[Images, Labels]:
    """Mirror every frame left-right with probability `prob`."""
    if rng.random() < prob:
        images = [image[:, ::-1] for image in images]
        labels = [label[:, ::-1] for label in labels]
    return images, labels


def random_pad(
    images: Images, labels: Labels, rng: np.random.Generator, size: int, label_pad: int = IGNORE_ID
) -> tuple[Images, Labels]:
    """Pad the clip to `size` x `size` at a random position: images with `IMAGE_PAD_RGB`, labels with `label_pad`.

    The official code pads labels with 0 (background); the default here is 255 (ignore), so padding is
    never supervised as background (RMEM_SPEC §8.2.6).
    """
    height, width = labels[0].shape
    if height > size or width > size:
        raise ValueError(f"cannot pad a {height}x{width} clip to {size}x{size}: crop it first")
    top = int(rng.integers(0, size - height + 1))
    left = int(rng.integers(0, size - width + 1))
    window = (slice(top, top + height), slice(left, left + width))
    padded_images, padded_labels = [], []
    for image, label in zip(images, labels):
        canvas = np.empty((size, size, 3), dtype=image.dtype)
        canvas[:] = IMAGE_PAD_RGB
        canvas[window] = image
        padded_images.append(canvas)
        label_canvas = np.full((size, size), label_pad, dtype=np.uint8)
        label_canvas[window] = label
        padded_labels.append(label_canvas)
    return padded_images, padded_labels


def merge_clips(
    first: tuple[Images, Labels],
    second: tuple[Images, Labels],
    rng: np.random.Generator,
    max_obj: int = 10,
    min_obj_pixels: int = 100,
) -> tuple[Images, Labels, int]:
    """Dynamic merge: paste `second` (every non-zero label pixel, 255 included) over `first`.

    The pasted ids are shifted by `max_obj`. Objects with at most `min_obj_pixels` pixels in the merged
    reference frame are dropped; if more than `max_obj` remain, a random `max_obj` are kept. The survivors
    are renumbered 1..n (in id order, or the random order when subsampled) and 255 is restored wherever the
    result is background and either clip had 255 (the official `IGNORE_IN_MERGE=True`). Both clips must
    already have the same size. Returns the merged clip and n.
    """
    (images1, labels1), (images2, labels2) = first, second
    if labels1[0].shape != labels2[0].shape or len(labels1) != len(labels2):
        raise ValueError(
            f"cannot merge clips of {len(labels1)} frames of {labels1[0].shape} and "
            f"{len(labels2)} frames of {labels2[0].shape}"
        )
    pasted = [label > 0 for label in labels2]
    combined = [
        np.where(mask, label2.astype(np.int32) + max_obj, label1)
        for mask, label1, label2 in zip(pasted, labels1, labels2)
    ]
    ids, counts = np.unique(combined[0], return_counts=True)
    kept = [int(i) for i, n in zip(ids, counts) if 1 <= i <= 2 * max_obj and n > min_obj_pixels]
    if len(kept) > max_obj:
        kept = [kept[i] for i in rng.permutation(len(kept))[:max_obj]]

    merged_images, merged_labels = [], []
    for mask, image1, image2, label1, label2, both in zip(pasted, images1, images2, labels1, labels2, combined):
        merged_images.append(np.where(mask[..., None], image2, image1))
        label = relabel(both, kept)
        ignored = (label == 0) & ((label1 == IGNORE_ID) | (label2 == IGNORE_ID))
        label[ignored] = IGNORE_ID
        merged_labels.append(label)
    return merged_images, merged_labels, len(kept)


def to_tensors(images: Images, labels: Labels) -> tuple[Tensor, Tensor]:
    """Stack a clip into ImageNet-normalised float32 images (L, 3, H, W) and int64 labels (L, H, W)."""
    normalised = []
    for image in images:
        pixels = image.astype(np.float32) / 255.0
        pixels -= IMAGENET_MEAN
        pixels /= IMAGENET_STD
        normalised.append(pixels.transpose(2, 0, 1))
    image_tensor = torch.from_numpy(np.stack(normalised).astype(np.float32))
    label_tensor = torch.from_numpy(np.stack(labels).astype(np.int64))
    return image_tensor, label_tensor


def random_id_permutation(batch: int, max_obj: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample random relabelling of the object ids 1..max_obj (background 0 stays 0).

    Returns float32 permutation matrices M of shape (batch, max_obj + 1, max_obj + 1) with M[b, i, j] = 1
    when id i of sample b is shown to the network as id j: shuffle one-hot masks (B, O, H, W) with
    `einsum("bohw,bot->bthw", masks, M)` and undo it on logits with `einsum("bohw,bto->bthw", logits, M)`.
    `M.argmax(-1)` gives the same permutation as indices.
    """
    eye = torch.eye(max_obj + 1)
    matrices = []
    for _ in range(batch):
        order = torch.randperm(max_obj, generator=generator) + 1
        matrices.append(torch.cat([eye[:1], eye[order]]))
    return torch.stack(matrices)
