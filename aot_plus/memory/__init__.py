"""Long-term memory bank and its eviction policies (unrestricted AOT/DeAOT, restricted RMem, FIFO).

Eviction of the restricted bank is explained in `aot_plus.memory.restricted`.
"""

from aot_plus.memory.bank import LongTermMemory
from aot_plus.memory.base import MemoryPolicy, RestrictedMemoryConfig
from aot_plus.memory.policies import FifoPolicy, UnrestrictedPolicy, build_memory_policy
from aot_plus.memory.restricted import EvictionScores, RestrictedPolicy

__all__ = [
    "EvictionScores",
    "FifoPolicy",
    "LongTermMemory",
    "MemoryPolicy",
    "RestrictedMemoryConfig",
    "RestrictedPolicy",
    "UnrestrictedPolicy",
    "build_memory_policy",
]
