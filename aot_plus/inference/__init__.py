"""Streaming inference: preprocessing, object bookkeeping, the ``InferenceSession`` and its CUDA graphs."""

from .objects import ObjectIds
from .preprocess import preprocess_image, test_time_size
from .session import InferenceSession, Prediction

__all__ = ["InferenceSession", "ObjectIds", "Prediction", "preprocess_image", "test_time_size"]
