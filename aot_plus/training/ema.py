"""Exponential moving average of the trainable parameters, as kept by the official trainer (RMEM_SPEC §6).

Only parameters with `requires_grad` are averaged; frozen parameters and buffers (the frozen batch-norm
statistics) are not. The official EMA checkpoint is the full model state dict with the averaged values in
place of the trainable parameters, which is what `ModelEma.apply_to` builds.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from aot_plus.training.schedules import ema_decay


class ModelEma:
    """Shadow copies of a model's trainable parameters, updated after every optimiser step.

    The shadows start from the parameters' values at construction, so build it after loading the
    pretrained weights. The n-th update uses decay `ema_decay(n, total_steps)` and moves each shadow s
    towards its parameter p with s -= (1 - decay) * (s - p).
    """

    def __init__(self, model: nn.Module, total_steps: int) -> None:
        self.total_steps = total_steps
        self.shadow: dict[str, Tensor] = {
            name: parameter.detach().clone() for name, parameter in model.named_parameters() if parameter.requires_grad
        }
        canonical = {id(parameter): name for name, parameter in model.named_parameters()}
        self._canonical_name = {
            name: canonical[id(parameter)]
            for name, parameter in model.named_parameters(remove_duplicate=False)
            if canonical[id(parameter)] in self.shadow
        }

    def update(self, model: nn.Module, step: int) -> float:
        """Average in the model's current parameters after optimiser step `step` (0-based); return the decay.

        The decay depends only on `step` (this is update number step + 1), so a resumed run continues
        exactly where the saved one stopped.
        """
        decay = ema_decay(step + 1, self.total_steps)
        parameters = dict(model.named_parameters())
        with torch.no_grad():
            for name, shadow in self.shadow.items():
                if name not in parameters:
                    raise KeyError(f"EMA parameter {name} is not a parameter of the model being averaged")
                shadow.sub_((1.0 - decay) * (shadow - parameters[name]))
        return decay

    def state_dict(self) -> dict[str, Tensor]:
        """The shadow values by parameter name."""
        return {name: shadow.clone() for name, shadow in self.shadow.items()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Load shadows from `state_dict()` output or from a full EMA checkpoint (extra keys are ignored)."""
        for name, shadow in self.shadow.items():
            if name not in state:
                raise KeyError(f"EMA state lacks parameter {name}")
            if state[name].shape != shadow.shape:
                raise ValueError(
                    f"EMA state {name} has shape {tuple(state[name].shape)}, expected {tuple(shadow.shape)}"
                )
        for name, shadow in self.shadow.items():
            shadow.copy_(state[name])

    def apply_to(self, model_state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """A copy of `model_state_dict` with the EMA value of every trainable parameter swapped in.

        Frozen parameters and buffers keep their current values; key order is preserved.
        """
        missing = sorted(set(self.shadow) - set(model_state_dict))
        if missing:
            raise KeyError(f"model state dict lacks the EMA parameters {missing[:3]} ({len(missing)} in all)")
        averaged = {}
        for key, value in model_state_dict.items():
            name = self._canonical_name.get(key)
            averaged[key] = self.shadow[name].detach().clone().to(value.dtype) if name is not None else value
        return averaged
