"""Mask decoders."""

from .fpn import FPNSegmentationHead

__all__ = ["FPNSegmentationHead"]
