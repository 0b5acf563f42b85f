"""The simple eviction policies, and the one registry of policy names, classes and configs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Union

from aot_plus.memory.base import EvictionDecision, EvictionEvidence, MemoryPolicy, check_frames
from aot_plus.memory.restricted import RestrictedMemoryConfig, RestrictedPolicy, check_capacity
from aot_plus.models import ModelConfig


@dataclass(frozen=True)
class UnrestrictedConfig:
    """The original AOT/DeAOT bank has no constants."""


@dataclass(frozen=True)
class FifoConfig:
    """Capacity of the FIFO bank, the same as the restricted bank's by default."""

    first_frames: int = 1
    """Oldest entries that are never evicted."""
    recent_frames: int = 8
    """Newest entries kept besides them."""

    def __post_init__(self) -> None:
        check_capacity(type(self).__name__, self.first_frames, self.recent_frames)

    @property
    def capacity(self) -> int:
        return self.first_frames + self.recent_frames


class UnrestrictedPolicy(MemoryPolicy):
    """Never evicts: the bank grows by one entry per long-term update (original AOT/DeAOT)."""

    def __init__(self, config: UnrestrictedConfig | None = None) -> None:
        self.config = config if config is not None else UnrestrictedConfig()

    def select_eviction(self, frames: Sequence[int], evidence: EvictionEvidence | None) -> EvictionDecision:
        return EvictionDecision()


class FifoPolicy(MemoryPolicy):
    """On overflow evicts the oldest entry after the first frames (the paper's Table 4 baseline)."""

    def __init__(self, config: FifoConfig | None = None) -> None:
        self.config = config if config is not None else FifoConfig()

    @property
    def capacity(self) -> int:
        return self.config.capacity

    def select_eviction(self, frames: Sequence[int], evidence: EvictionEvidence | None) -> EvictionDecision:
        check_frames(frames, minimum=1)
        return EvictionDecision(self.config.first_frames if len(frames) > self.config.capacity else None)


MemoryConfig = Union[UnrestrictedConfig, RestrictedMemoryConfig, FifoConfig]
PolicyFactory = Callable[[], MemoryPolicy]

MEMORY_POLICIES: dict[str, tuple[type[MemoryPolicy], type]] = {
    "unrestricted": (UnrestrictedPolicy, UnrestrictedConfig),
    "restricted": (RestrictedPolicy, RestrictedMemoryConfig),
    "fifo": (FifoPolicy, FifoConfig),
}
"""Policy name -> (policy class, config class). The policy class is built from an instance of its config."""


def memory_config(name: str, options: Mapping[str, Any] | None = None) -> MemoryConfig:
    """The validated config of policy `name` with `options` replacing its defaults."""
    if name not in MEMORY_POLICIES:
        raise ValueError(f"unknown memory policy {name!r}; valid: {', '.join(MEMORY_POLICIES)}")
    config_class = MEMORY_POLICIES[name][1]
    valid = [field.name for field in fields(config_class)]
    unknown = sorted(set(options or {}) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for memory policy {name!r}; valid: {', '.join(valid) or 'none'}"
        )
    return config_class(**(options or {}))


def model_memory_config(model: ModelConfig, name: str, options: Mapping[str, Any] | None = None) -> MemoryConfig:
    """Policy `name` as the model's official code runs it (`memory_defaults` of its YAML), `options` on top."""
    return memory_config(name, {**model.memory_defaults.get(name, {}), **(options or {})})


def policy_name(config: MemoryConfig) -> str:
    """The registry name of a memory config."""
    for name, (_, config_class) in MEMORY_POLICIES.items():
        if type(config) is config_class:
            return name
    raise TypeError(f"{type(config).__name__} is not a memory config; valid: {', '.join(MEMORY_POLICIES)}")


def build_memory_policy(config: MemoryConfig) -> MemoryPolicy:
    """A fresh policy for one memory bank, from its config."""
    return MEMORY_POLICIES[policy_name(config)][0](config)


def policy_factory(memory: MemoryConfig | PolicyFactory) -> PolicyFactory:
    """A factory of fresh policies from a memory config, or the given factory itself."""
    if isinstance(memory, tuple(config_class for _, config_class in MEMORY_POLICIES.values())):
        config = memory
        return lambda: build_memory_policy(config)
    if callable(memory):
        return memory
    raise TypeError(f"memory must be a memory config or a MemoryPolicy factory, got {memory!r}")
