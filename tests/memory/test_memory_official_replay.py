"""Replay of every recorded call of the official `restrict_long_memories` (R50-AOTL and R50-DeAOTL).

The records are tests/data/official/ref_r50_{aotl,deaotl}_memory.json,
recorded from the official RMem code on a synthetic 72-frame video (gap 5, capacity 1 + 8). For each call
they hold the normalised attention shares, moving means, stay counts, UCB bonus, scores and the drop.
The shares are fed back as a one-token attention map with foreground 1, so the policy sees the same
relevance the official code computed.
"""

from __future__ import annotations

import re

import pytest
import torch

from aot_plus.memory import (
    EvictionEvidence,
    LongTermMemory,
    RestrictedMemoryConfig,
    RestrictedPolicy,
    UnrestrictedPolicy,
)
from tests.official_data import memory_record

SCORE_TOLERANCE = 1e-6
# AOT's restriction returns early until the bank overflows; DeAOT's (HEAD) scores at every append.
MODELS = {"r50_aotl": False, "r50_deaotl": True}


def load_record(model: str) -> dict:
    return memory_record(model)


def printed_stay_counts(call: dict) -> list[float]:
    """The official code prints the stay counts of the older entries before `t_0 := T`."""
    match = re.search(r"frame_times_np = tensor\(\[([^\]]*)\]\)", call["printed_by_official_code"])
    assert match is not None
    return [float(value) for value in match.group(1).replace("\n", " ").split(",")]


def printed_previous_state(call: dict) -> dict[int, float]:
    """The moving means stored before this call, printed by the official code to 4 decimals."""
    match = re.search(r"last_attn_weight_dict = \{([^}]*)\}", call["printed_by_official_code"])
    assert match is not None
    return {int(k): float(v) for k, v in re.findall(r"(\d+): tensor\(([-\d.e]+)\)", match.group(1))}


def one_frame_entries(frame: int) -> list[list[torch.Tensor]]:
    return [[torch.full((1, 1, 2), float(frame)), torch.full((1, 1, 3), float(frame) + 0.5)]]


def close(actual: torch.Tensor, expected: list[float]) -> bool:
    return torch.allclose(actual, torch.tensor(expected, dtype=torch.float32), rtol=0.0, atol=SCORE_TOLERANCE)


@pytest.mark.parametrize("model", MODELS)
def test_replay_matches_every_recorded_call(model: str) -> None:
    record = load_record(model)
    assert record["former_mem_len"] == 1 and record["latter_mem_len"] == 8
    policy = RestrictedPolicy(RestrictedMemoryConfig(update_before_full=MODELS[model]))
    memory = LongTermMemory(policy)
    memory.reset(0, one_frame_entries(0))
    calls = {call["at_frame"]: call for call in record["restrict_long_memories_calls"]}
    assert sorted(calls) == list(range(5, 71, 5))

    for frame in range(1, 72):
        if frame in calls:
            call = calls[frame]
            older = len(memory)
            shares = call.get("attn_share_raw", [1.0 / older] * older)
            state_before = policy.smoothed_relevance
            assert memory.frames + [frame] == call["indexes_before"]
            evidence = EvictionEvidence(torch.tensor([shares]), torch.ones(1))
            event = memory.append(frame, one_frame_entries(frame), evidence)
            assert event.evicted == (call["dropped"][0] if call["dropped"] else None), f"frame {frame}"
            assert memory.frames == call["indexes_after"], f"frame {frame}"
            if call["state_updated"]:
                check_scored_call(policy, event.scores, call, state_before)
            else:
                assert event.scores is None and policy.smoothed_relevance == {} and policy.stay_counts == {}
        expected = record["long_term_memory_frames_after_each_frame"][str(frame)]
        assert memory.frames == expected, f"frame {frame}"


def check_scored_call(policy: RestrictedPolicy, scores, call: dict, state_before: dict[int, float]) -> None:
    frame = call["at_frame"]
    assert scores is not None
    assert close(scores.relevance, call["attn_share_raw"]), f"frame {frame}"
    assert close(scores.smoothed_relevance, call["attn_share_moving_avg"]), f"frame {frame}"
    assert scores.stay_counts.tolist() == call["visit_counts_used"], f"frame {frame}"
    assert close(scores.bonus, call["ucb_bonus"]), f"frame {frame}"
    assert close(scores.score, call["score"]), f"frame {frame}"
    if len(call["score"]) > 1:
        assert 1 + int(torch.argmin(scores.score[1:])) == call["argmin_index_over_1_to_end"], f"frame {frame}"

    printed_before = printed_previous_state(call)
    assert sorted(state_before) == sorted(printed_before), f"frame {frame}"
    for key, value in printed_before.items():
        assert state_before[key] == pytest.approx(value, abs=5.1e-5)

    older = call["indexes_before"][:-1]
    assert policy.smoothed_relevance == pytest.approx(dict(zip(older, call["attn_share_moving_avg"])), abs=1e-6)
    counts = policy.stay_counts
    assert [counts[f] for f in older] == printed_stay_counts(call), f"frame {frame}"
    assert counts[frame] == 1 and sorted(counts) == sorted(call["indexes_before"])


@pytest.mark.parametrize("model", MODELS)
def test_unrestricted_bank_lengths_match_record(model: str) -> None:
    lengths = load_record(model)["unrestricted_comparison"]["memory_len_per_frame_unrestricted"]
    memory = LongTermMemory(UnrestrictedPolicy())
    memory.reset(0, one_frame_entries(0))
    observed = [len(memory)]
    for frame in range(1, 72):
        if frame % 5 == 0:
            assert memory.append(frame, one_frame_entries(frame)).evicted is None
        observed.append(len(memory))
    assert observed == lengths
    assert memory.frames == list(range(0, 71, 5))
