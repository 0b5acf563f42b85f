"""Unrestricted and FIFO policies, the policy registry and the configuration checks."""

from __future__ import annotations

import pytest
import torch

from aot_plus.memory import (
    MEMORY_POLICIES,
    EvictionEvidence,
    FifoConfig,
    FifoPolicy,
    RestrictedMemoryConfig,
    RestrictedPolicy,
    UnrestrictedConfig,
    UnrestrictedPolicy,
    build_memory_policy,
    memory_config,
    model_memory_config,
    policy_factory,
    policy_name,
)
from aot_plus.models import load_model_config


def test_unrestricted_never_evicts() -> None:
    policy = UnrestrictedPolicy()
    frames = [0]
    for frame in range(1, 500):
        frames.append(frame)
        assert policy.select_eviction(frames, None).position is None
    assert not policy.needs_evidence


def test_fifo_evicts_oldest_non_first_when_over_capacity() -> None:
    policy = FifoPolicy()
    assert not policy.needs_evidence
    frames = [0]
    history = {}
    for frame in range(5, 101, 5):
        frames.append(frame)
        position = policy.select_eviction(frames, None).position
        assert position == (1 if len(frames) > 9 else None)
        if position is not None:
            frames.pop(position)
        history[frame] = list(frames)
    assert history[40] == list(range(0, 41, 5))
    assert history[45] == [0] + list(range(10, 46, 5))
    assert history[100] == [0] + list(range(65, 101, 5))


def test_fifo_keeps_first_frames() -> None:
    policy = FifoPolicy(FifoConfig(first_frames=2, recent_frames=2))
    assert policy.select_eviction([0, 1, 2, 3], None).position is None
    assert policy.select_eviction([0, 1, 2, 3, 4], None).position == 2


def test_registry_builds_each_policy_from_its_config() -> None:
    assert isinstance(build_memory_policy(memory_config("unrestricted")), UnrestrictedPolicy)
    fifo = build_memory_policy(memory_config("fifo", {"recent_frames": 3}))
    assert isinstance(fifo, FifoPolicy) and fifo.config.capacity == 4
    restricted = build_memory_policy(memory_config("restricted", {"update_before_full": False, "ucb_scale": 2.0}))
    assert isinstance(restricted, RestrictedPolicy) and restricted.needs_evidence
    assert restricted.config == RestrictedMemoryConfig(update_before_full=False, ucb_scale=2.0)
    for name, (policy_class, config_class) in MEMORY_POLICIES.items():
        assert policy_name(config_class()) == name and type(build_memory_policy(config_class())) is policy_class


def test_policy_factory_takes_a_config_or_a_factory() -> None:
    make = policy_factory(FifoConfig(recent_frames=2))
    first, second = make(), make()
    assert first is not second and first.config == second.config == FifoConfig(recent_frames=2)
    custom = policy_factory(UnrestrictedPolicy)
    assert isinstance(custom(), UnrestrictedPolicy)
    with pytest.raises(TypeError, match="memory config or a MemoryPolicy factory"):
        policy_factory(3)
    with pytest.raises(TypeError, match="not a memory config"):
        policy_name(object())


def test_model_yaml_holds_the_family_defaults_of_the_restricted_bank() -> None:
    """AOT's official code scores only once the bank overflows, DeAOT's (HEAD) at every append."""
    aot, deaot = load_model_config("r50_aotl"), load_model_config("r50_deaotl")
    assert model_memory_config(aot, "restricted") == RestrictedMemoryConfig(update_before_full=False)
    assert model_memory_config(deaot, "restricted") == RestrictedMemoryConfig(update_before_full=True)
    assert model_memory_config(aot, "restricted", {"recent_frames": 4}) == RestrictedMemoryConfig(
        recent_frames=4, update_before_full=False
    )
    assert model_memory_config(aot, "restricted", {"update_before_full": True}).update_before_full
    assert (
        model_memory_config(aot, "fifo") == FifoConfig()
        and model_memory_config(aot, "unrestricted") == UnrestrictedConfig()
    )
    for name in ("aott", "aots", "aotb"):
        assert not model_memory_config(load_model_config(name), "restricted").update_before_full


def test_default_constants_are_the_official_ones() -> None:
    config = RestrictedMemoryConfig()
    assert (config.first_frames, config.recent_frames, config.capacity) == (1, 8, 9)
    assert (config.relevance_momentum, config.ucb_scale, config.ucb_offset) == (0.8, 1.5, 8.0)
    assert config.reset_first_count and config.update_before_full


def test_registry_rejects_unknown_name_listing_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown memory policy 'lru'; valid: unrestricted, restricted, fifo"):
        memory_config("lru")


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("unrestricted", {"recent_frames": 8}, "recent_frames for memory policy 'unrestricted'; valid: none"),
        ("fifo", {"ucb_scale": 1.0}, "ucb_scale for memory policy 'fifo'; valid: first_frames, recent_frames"),
        ("restricted", {"momentum": 0.5}, "momentum for memory policy 'restricted'; valid: first_frames, "),
    ],
)
def test_registry_rejects_unknown_options(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        memory_config(name, options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"first_frames": 0}, "first_frames must be an integer >= 1"),
        ({"recent_frames": 0}, "recent_frames must be an integer >= 1"),
        ({"recent_frames": 2.5}, "recent_frames must be an integer >= 1"),
        ({"relevance_momentum": 1.5}, r"relevance_momentum must be in \[0, 1\]"),
        ({"ucb_scale": -1.0}, "ucb_scale must be >= 0"),
        ({"ucb_offset": -8.0}, "ucb_offset must be >= 0"),
        ({"ucb_offset": "8"}, "ucb_offset must be a number"),
        ({"update_before_full": 1}, "update_before_full must be a bool"),
    ],
)
def test_bad_constants_are_rejected(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        memory_config("restricted", options)


def test_fifo_rejects_bad_capacity() -> None:
    with pytest.raises(ValueError, match="FifoConfig.recent_frames must be an integer >= 1"):
        memory_config("fifo", {"recent_frames": 0})


def test_policies_reject_duplicate_frames() -> None:
    with pytest.raises(ValueError, match="distinct"):
        FifoPolicy().select_eviction([0, 5, 5], None)
    evidence = EvictionEvidence(torch.ones(1, 1), torch.ones(1))
    assert UnrestrictedPolicy().select_eviction([0, 5], evidence).position is None
