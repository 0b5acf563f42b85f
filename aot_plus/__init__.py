"""RMem: AOT/DeAOT video object segmentation with restricted memory banks (CVPR 2024).

import aot_plus
model = aot_plus.build_model("r50_deaotl")
aot_plus.load_checkpoint(model, "pretrain_models/aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth")
session = aot_plus.InferenceSession(model, memory="restricted")
"""

from .checkpoints import CheckpointError, LoadReport, load_checkpoint, save_checkpoint
from .inference import InferenceSession, Prediction
from .models import available_models, build_model

__all__ = [
    "CheckpointError",
    "InferenceSession",
    "LoadReport",
    "Prediction",
    "available_models",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
]
