"""Test-time image preprocessing, exactly as the official evaluation does it.

1. Long edge capped at ``max_size`` (1040), times the test-time scale (1 unless multi-scale testing),
   then each side snapped to 16k+1 (numpy round-half-even).
2. Bicubic resize (OpenCV, float32, no clipping) only when the size changes.
3. ``x/255``, ImageNet mean/std; the in-place numpy ops run in float64 and round to float32.

On a GPU the same steps run on the device (PyTorch bicubic, float32 arithmetic): inputs then differ
from the official ones by about 1e-4 where a resize is needed and 5e-7 elsewhere, below the
differences that GPU kernels (TF32 convolutions) introduce anyway.

An image is a numpy array or a CPU tensor of the same layout; a tensor in pinned memory (``pin_memory``)
is uploaded without the host waiting for the copy, which is how the evaluation loop hands frames over.
"""

from __future__ import annotations

from typing import Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

Image = Union[np.ndarray, torch.Tensor]
"""(H, W, 3) uint8 RGB: a numpy array, or a CPU tensor (pinned, to be uploaded without blocking)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TEST_MAX_SIZE = 1040.0  # 480 * 1.3 * 800 / 480, the official TEST_MAX_SIZE
STRIDE = 16


def test_time_size(
    height: int, width: int, max_size: float = TEST_MAX_SIZE, scale: float = 1.0, stride: int = STRIDE
) -> tuple[int, int]:
    """Network input size for a frame of the given size at a test-time ``scale``."""
    long_edge = max(height, width)
    cap = max_size / long_edge if long_edge > max_size else None
    # The official products, in its order: (side * cap) * scale, truncated.
    new_h = int((height * cap if cap is not None else height) * scale)
    new_w = int((width * cap if cap is not None else width) * scale)
    return _snap(new_h, stride), _snap(new_w, stride)


def _snap(size: int, stride: int) -> int:
    if (size - 1) % stride == 0:
        return size
    return int(np.around((size - 1) / stride) * stride + 1)


def normalise(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB float32 in 0..255 -> (3, H, W) float32, ImageNet-normalised like the official code."""
    x = image / 255.0
    x -= IMAGENET_MEAN
    x /= IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def check_image(image: Image) -> None:
    if isinstance(image, torch.Tensor):
        valid = image.dtype == torch.uint8 and image.device.type == "cpu"
    else:
        valid = isinstance(image, np.ndarray) and image.dtype == np.uint8
    if not valid or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        desc = f"{type(image).__name__} {tuple(getattr(image, 'shape', ()))} {getattr(image, 'dtype', '')}"
        if isinstance(image, torch.Tensor):
            desc += f" on {image.device}"
        raise ValueError(f"expected an RGB image as a non-empty (H, W, 3) uint8 array or CPU tensor, got {desc}")


def preprocess_image(
    image: Image, max_size: float = TEST_MAX_SIZE, device: torch.device | str = "cpu", scale: float = 1.0
) -> torch.Tensor:
    """An RGB ``Image`` -> (1, 3, h, w) float32 network input on ``device``, at a test-time ``scale``."""
    check_image(image)
    height, width = image.shape[:2]
    new_h, new_w = test_time_size(height, width, max_size, scale)
    if torch.device(device).type != "cpu":
        return preprocess_image_torch(image, (new_h, new_w), torch.device(device))
    if isinstance(image, torch.Tensor):
        image = image.numpy()
    pixels = image.astype(np.float32)
    if (new_h, new_w) != (height, width):
        pixels = cv2.resize(pixels, dsize=(new_w, new_h), interpolation=cv2.INTER_CUBIC)
    return torch.from_numpy(normalise(pixels))[None]


def preprocess_image_torch(image: Image, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """The steps of ``preprocess_image`` in PyTorch on ``device`` (bicubic, float32): its path off the CPU."""
    pixels = image if isinstance(image, torch.Tensor) else torch.from_numpy(image)
    x = pixels.to(device, non_blocking=True).permute(2, 0, 1)[None].float()
    if size != tuple(image.shape[:2]):
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    # Built on the host and sent without blocking: a blocking copy would wait for the device's queue.
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).to(device, non_blocking=True)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1).to(device, non_blocking=True)
    return (x / 255.0 - mean) / std
