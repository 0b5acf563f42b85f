"""The memories of the AOT family and their eviction policies (unrestricted AOT/DeAOT, restricted RMem, FIFO).

- `GroupMemory` (group.py): what inference and training read and write per object group: the long-term
  bank, the short-term memory and the write schedule, and the evidence eviction policies score.
- `LongTermMemory` (bank.py): the bank's storage; every write returns a `MemoryEvent`.
- Policies (policies.py, restricted.py) and `MEMORY_POLICIES`, the registry of their names and configs.
  Eviction of the restricted bank is `RestrictedPolicy.select_eviction` in restricted.py.
"""

from aot_plus.memory.bank import LongTermMemory, MemoryEvent
from aot_plus.memory.base import EvictionDecision, EvictionEvidence, EvictionScores, MemoryPolicy
from aot_plus.memory.group import GroupMemory
from aot_plus.memory.policies import (
    MEMORY_POLICIES,
    FifoConfig,
    FifoPolicy,
    MemoryConfig,
    PolicyFactory,
    UnrestrictedConfig,
    UnrestrictedPolicy,
    build_memory_policy,
    memory_config,
    model_memory_config,
    policy_factory,
    policy_name,
)
from aot_plus.memory.restricted import RestrictedMemoryConfig, RestrictedPolicy

__all__ = [
    "MEMORY_POLICIES",
    "EvictionDecision",
    "EvictionEvidence",
    "EvictionScores",
    "FifoConfig",
    "FifoPolicy",
    "GroupMemory",
    "LongTermMemory",
    "MemoryConfig",
    "MemoryEvent",
    "MemoryPolicy",
    "PolicyFactory",
    "RestrictedMemoryConfig",
    "RestrictedPolicy",
    "UnrestrictedConfig",
    "UnrestrictedPolicy",
    "build_memory_policy",
    "memory_config",
    "model_memory_config",
    "policy_factory",
    "policy_name",
]
