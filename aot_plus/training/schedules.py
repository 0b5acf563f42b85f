"""Step-dependent schedules of the official VOST fine-tuning (RMEM_SPEC §6) and the optimiser's param groups.

`step` is always the 0-based index of the optimisation step about to be taken, as in the official loop.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHT_DECAY_EXEMPT_KEYS = ("absolute_pos_embed", "relative_position_bias_table", "relative_emb_v", "conv_out")
"""Parameters of 2 or more dimensions whose name contains one of these get no weight decay."""


def learning_rate(
    step: int,
    total_steps: int,
    base_lr: float = 2e-4,
    min_lr: float = 1e-5,
    warmup_ratio: float = 0.05,
    power: float = 0.9,
    encoder: bool = False,
    encoder_lr_ratio: float = 0.1,
) -> float:
    """Linear warm-up from `min_lr` to `base_lr` over `warmup_ratio` of the steps, then poly decay to `min_lr`.

    Encoder groups get `min_lr + encoder_lr_ratio * (lr - min_lr)`.
    """
    warmup_steps = warmup_ratio * total_steps
    if step < warmup_steps:
        lr = min_lr + (base_lr - min_lr) * step / warmup_steps
    else:
        decay_steps = total_steps - warmup_steps
        lr = min_lr + (base_lr - min_lr) * (1 - (step - warmup_steps) / (decay_steps + 1)) ** power
    if encoder:
        lr = (lr - min_lr) * encoder_lr_ratio + min_lr
    return lr


def topk_fraction(step: int, total_steps: int, final: float = 0.15, over_ratio: float = 0.5) -> float:
    """Fraction of pixels whose cross-entropy is averaged: 1 at step 0, linearly down to `final` at
    `over_ratio * total_steps`, then constant. The pixel count is `int(fraction * H * W)`."""
    ratio = min(1.0, step / (over_ratio * total_steps + 1e-5))
    return ratio * final + (1.0 - ratio)


def aux_loss_weight(step: int, total_steps: int) -> float:
    """Weight of the reference frame's own (auxiliary) loss: 1 at step 0, linearly to 0 at `total_steps`."""
    span = total_steps * 1.0 + 1e-5
    return max(span - step, 0.0) / span


def ema_decay(num_updates: int, total_steps: int) -> float:
    """EMA decay of the `num_updates`-th update (1-based): min(1 - 1/(0.1 * total_steps), (1+n)/(10+n))."""
    return min(1.0 - 1.0 / (total_steps * 0.1), (1 + num_updates) / (10 + num_updates))


def sequential_training_started(step: int, total_steps: int, start_ratio: float = 0.5) -> bool:
    """From this step on, frames are propagated with the previous prediction and the ID bank is frozen."""
    return step >= int(start_ratio * total_steps)


def is_encoder_parameter(name: str, encoder_prefix: str = "encoder.") -> bool:
    """Whether `name` lies under a module called like `encoder_prefix`, at the top or inside a wrapper."""
    return name.startswith(encoder_prefix) or f".{encoder_prefix}" in name


def param_groups(model: nn.Module, base_lr: float, weight_decay: float, encoder_prefix: str = "encoder.") -> list[dict]:
    """One AdamW param group per trainable tensor, with the official weight-decay exemptions.

    No weight decay for: 1-D tensors named with "bias"; 1-D tensors outside the encoder (norm weights);
    tensors of 2+ dimensions named with a `WEIGHT_DECAY_EXEMPT_KEYS` entry. Everything else, the temporal
    position embeddings `cur_pos_emb`/`mem_pos_emb` included, gets `weight_decay`. Each group carries its
    parameter's `name` and `is_encoder`, for per-step learning rates (`apply_learning_rates`).
    """
    groups = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        in_encoder = is_encoder_parameter(name, encoder_prefix)
        if parameter.ndim == 1:
            exempt = "bias" in name or not in_encoder
        else:
            exempt = any(key in name for key in WEIGHT_DECAY_EXEMPT_KEYS)
        groups.append(
            {
                "params": [parameter],
                "lr": base_lr,
                "weight_decay": 0.0 if exempt else weight_decay,
                "name": name,
                "is_encoder": in_encoder,
            }
        )
    return groups


def apply_learning_rates(
    optimizer: torch.optim.Optimizer,
    step: int,
    total_steps: int,
    base_lr: float = 2e-4,
    min_lr: float = 1e-5,
    frozen_keys: tuple[str, ...] = (),
) -> float:
    """Set every group's lr for `step` (groups from `param_groups`); return the non-encoder lr.

    Groups whose name contains one of `frozen_keys` get lr 0 and weight decay 0, as the official trainer
    does for `patch_wise_id_bank` once sequential training has started.
    """
    lr = learning_rate(step, total_steps, base_lr, min_lr)
    encoder_lr = learning_rate(step, total_steps, base_lr, min_lr, encoder=True)
    for group in optimizer.param_groups:
        group["lr"] = encoder_lr if group["is_encoder"] else lr
        if any(key in group["name"] for key in frozen_keys):
            group["lr"] = 0.0
            group["weight_decay"] = 0.0
    return lr
