"""Behaviour of the restricted (RMem) eviction policy: golden sequences, invariants and numerics."""

from __future__ import annotations

import math
import random

import pytest
import torch

from aot_plus.memory import (
    EvictionDecision,
    EvictionEvidence,
    RestrictedMemoryConfig,
    RestrictedPolicy,
    build_memory_policy,
    memory_config,
)

GAP = 5


def select(policy: RestrictedPolicy, frames: list[int], attention, foreground) -> EvictionDecision:
    """The policy's decision on the evidence (attention, foreground); None when either is missing."""
    evidence = None if attention is None or foreground is None else EvictionEvidence(attention, foreground)
    return policy.select_eviction(frames, evidence)


def steps(start: int, stop: int) -> list[int]:
    """Frames start, start+5, ..., stop."""
    return list(range(start, stop + 1, GAP))


def pattern_attention(frames: list[int], tokens: int = 6) -> torch.Tensor:
    """Spec 9.6 pattern: relevance mass 6 for frames divisible by 20, else 1; every token attends alike."""
    mass = torch.tensor([6.0 if frame % 20 == 0 else 1.0 for frame in frames])
    return (mass / mass.sum()).expand(tokens, -1).clone()


def uniform_attention(frames: list[int], tokens: int = 6) -> torch.Tensor:
    return torch.full((tokens, len(frames)), 1.0 / len(frames))


def run(policy: RestrictedPolicy, attention_of, last_frame: int) -> dict[int, list[int]]:
    """Append frames 5, 10, ..., last_frame with uniform foreground; return the memory after each append."""
    frames = [0]
    history = {}
    for frame in steps(GAP, last_frame):
        attention = attention_of(frames)
        frames.append(frame)
        position = select(policy, frames, attention, torch.full((attention.shape[0],), 0.7)).position
        if position is not None:
            frames.pop(position)
        history[frame] = list(frames)
    return history


AOT_GOLDEN = {
    60: [0, 20] + steps(30, 60),
    75: [0, 20, 40] + steps(50, 75),
    90: [0, 20, 40, 60] + steps(70, 90),
    100: [0, 20, 40, 60, 80, 85, 90, 95, 100],
    105: [0, 40, 60, 80] + steps(85, 105),
    110: [0, 60, 80] + steps(85, 110),
    125: [0, 60, 80] + steps(100, 125),
}
DEAOT_GOLDEN = {
    **{frame: AOT_GOLDEN[frame] for frame in (60, 75)},
    85: [0, 20, 40, 60] + steps(65, 85),
    90: [0, 40, 60] + steps(65, 90),
    105: [0, 40, 60, 80] + steps(85, 105),
    110: AOT_GOLDEN[110],
    125: AOT_GOLDEN[125],
}


def test_spec_pattern_aot_head() -> None:
    history = run(RestrictedPolicy(RestrictedMemoryConfig(update_before_full=False)), pattern_attention, 125)
    for frame, expected in AOT_GOLDEN.items():
        assert history[frame] == expected, f"frame {frame}"


def test_spec_pattern_deaot_head() -> None:
    history = run(RestrictedPolicy(RestrictedMemoryConfig(update_before_full=True)), pattern_attention, 125)
    for frame, expected in DEAOT_GOLDEN.items():
        assert history[frame] == expected, f"frame {frame}"


def test_spec_pattern_variants_agree_until_85_and_from_110() -> None:
    aot = run(RestrictedPolicy(RestrictedMemoryConfig(update_before_full=False)), pattern_attention, 200)
    deaot = run(RestrictedPolicy(RestrictedMemoryConfig(update_before_full=True)), pattern_attention, 200)
    differing = [frame for frame in aot if aot[frame] != deaot[frame]]
    assert differing == steps(90, 100)


@pytest.mark.parametrize("update_before_full", [False, True])
def test_uniform_relevance_is_fifo_after_first_overflow(update_before_full: bool) -> None:
    policy = RestrictedPolicy(RestrictedMemoryConfig(update_before_full=update_before_full))
    history = run(policy, uniform_attention, 200)
    assert history[40] == steps(0, 40)
    for frame in steps(45, 200):
        assert history[frame] == [0] + steps(frame - 35, frame), f"frame {frame}"


@pytest.mark.parametrize(
    ("update_before_full", "expected_counts"),
    [
        # Spec 9.7 (official engine, 70 frames): the counts kept after frame 65 include frame 25, dropped then.
        (True, {0: 13, 25: 9, 30: 8, 35: 7, 40: 6, 45: 5, 50: 4, 55: 3, 60: 2, 65: 1}),
        (False, {0: 5, 25: 5, 30: 5, 35: 5, 40: 5, 45: 5, 50: 4, 55: 3, 60: 2, 65: 1}),
    ],
)
def test_stay_counts_after_frame_65(update_before_full: bool, expected_counts: dict[int, int]) -> None:
    policy = RestrictedPolicy(RestrictedMemoryConfig(update_before_full=update_before_full))
    history = run(policy, uniform_attention, 65)
    assert history[65] == [0] + steps(30, 65)
    assert policy.stay_counts == expected_counts


def test_hand_computed_scores_of_one_call() -> None:
    policy = RestrictedPolicy()
    # Two tokens, three older entries. Foreground 1 and 0.5.
    attention = torch.tensor([[0.5, 0.25, 0.25], [0.0, 0.5, 0.5]])
    frames = [0, 5, 10, 15]
    decision = select(policy, frames, attention, torch.tensor([1.0, 0.5]))
    assert decision.position is None
    scores = decision.scores
    # Weighted mass (0.5, 0.5, 0.5) -> relevance 1/3 each; counts (1, 1, 1) with t_0 := 3 -> (3, 1, 1).
    bonus_first = 1.5 * math.sqrt(math.log(5.0) / 11.0)
    bonus_other = 1.5 * math.sqrt(math.log(5.0) / 9.0)
    assert scores.relevance.tolist() == pytest.approx([1 / 3] * 3, abs=1e-7)
    assert scores.stay_counts.tolist() == [3.0, 1.0, 1.0]
    assert scores.bonus.tolist() == pytest.approx([bonus_first, bonus_other, bonus_other], abs=1e-6)
    assert scores.score.tolist() == pytest.approx([1 / 3 + bonus_first] + [1 / 3 + bonus_other] * 2, abs=1e-6)

    # Second call: relevance (0.1, 0.6, 0.2, 0.1) is mixed 0.2 * old + 0.8 * new for the known frames.
    scores = select(policy, frames + [20], torch.tensor([[0.1, 0.6, 0.2, 0.1]]), torch.ones(1)).scores
    smoothed = [0.2 / 3 + 0.08, 0.2 / 3 + 0.48, 0.2 / 3 + 0.16, 0.1]
    assert scores.smoothed_relevance.tolist() == pytest.approx(smoothed, abs=1e-6)
    assert scores.stay_counts.tolist() == [4.0, 2.0, 2.0, 2.0]
    assert policy.stay_counts == {0: 2, 5: 2, 10: 2, 15: 2, 20: 1}


def test_ties_evict_the_first_lowest_position() -> None:
    policy = RestrictedPolicy(RestrictedMemoryConfig(recent_frames=2))
    # Entries 5 and 10 have equal relevance and counts; the earlier one goes.
    assert select(policy, [0, 5, 10, 15], torch.tensor([[0.5, 0.25, 0.25]]), torch.ones(1)).position == 1


def test_without_count_reset_the_first_count_is_its_stay() -> None:
    policy = RestrictedPolicy(RestrictedMemoryConfig(reset_first_count=False))
    scores = select(policy, [0, 5, 10], torch.tensor([[0.5, 0.5]]), torch.ones(1)).scores
    assert scores.stay_counts.tolist() == [1.0, 1.0]


def test_zero_foreground_gives_uniform_relevance_not_nan() -> None:
    policy = RestrictedPolicy(RestrictedMemoryConfig(recent_frames=3))
    frames = [0, 5, 10, 15]
    scores = select(policy, frames, torch.tensor([[0.7, 0.2, 0.1]] * 3), torch.zeros(3)).scores
    assert scores.relevance.tolist() == pytest.approx([1 / 3] * 3)
    decision = select(policy, frames + [20], torch.tensor([[0.4, 0.3, 0.2, 0.1]]), torch.zeros(1))
    assert decision.scores.relevance.tolist() == pytest.approx([1 / 4] * 4)
    # Equal counts for 5, 10, 15; 15 has no history, so its smoothed relevance 1/4 is below 0.2/3 + 0.8/4.
    assert decision.scores.smoothed_relevance.tolist() == pytest.approx([0.2 / 3 + 0.2] * 3 + [0.25])
    assert decision.position == 3


def test_non_finite_attention_is_rejected() -> None:
    with pytest.raises(ValueError, match="not finite"):
        select(RestrictedPolicy(), [0, 5, 10], torch.tensor([[float("nan"), 0.5]]), torch.ones(1))


@pytest.mark.parametrize(
    ("attention", "foreground", "message"),
    [
        (None, torch.ones(2), "needs the layer-0 attention"),
        (torch.ones(2, 2) / 2, None, "needs the layer-0 attention"),
        (torch.ones(2, 3) / 3, torch.ones(2), r"attention must be \(HW, 2\)"),
        (torch.ones(2) / 2, torch.ones(2), r"attention must be \(HW, 2\)"),
        (torch.ones(2, 2) / 2, torch.ones(3), r"foreground must be \(2,\)"),
    ],
)
def test_bad_inputs_are_rejected(attention, foreground, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select(RestrictedPolicy(), [0, 5, 10], attention, foreground)


def test_bad_frames_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2 frames"):
        select(RestrictedPolicy(), [0], torch.ones(1, 0), torch.ones(1))
    with pytest.raises(ValueError, match="distinct"):
        select(RestrictedPolicy(), [0, 5, 5], torch.ones(1, 2) / 2, torch.ones(1))


def test_aot_mode_keeps_no_state_before_overflow() -> None:
    policy = RestrictedPolicy(RestrictedMemoryConfig(update_before_full=False))
    run(policy, pattern_attention, 40)
    assert policy.stay_counts == {} and policy.smoothed_relevance == {}
    assert select(policy, steps(0, 40), pattern_attention(steps(0, 35)), torch.ones(6)).scores is None


def test_reset_forgets_state() -> None:
    policy = RestrictedPolicy()
    run(policy, pattern_attention, 50)
    policy.reset()
    assert policy.stay_counts == {} and policy.smoothed_relevance == {}


def reference_eviction(state: dict, frames: list[int], attention: list[list[float]], fg: list[float]):
    """Independent float64 statement of spec 3.4 (DeAOT HEAD mode, capacity 1 + recent)."""
    older = frames[:-1]
    mass = [sum(row[k] * fg[p] for p, row in enumerate(attention)) for k in range(len(older))]
    relevance = [m / sum(mass) for m in mass]
    smoothed = {
        f: 0.2 * state["smoothed"][f] + 0.8 * r if f in state["smoothed"] else r for f, r in zip(older, relevance)
    }
    counts = {f: state["counts"].get(f, 0) + 1 for f in frames}
    state["smoothed"], state["counts"] = smoothed, counts
    used = [counts[f] for f in older]
    used[0] = len(older)
    total = sum(used)
    scores = [smoothed[f] + 1.5 * math.sqrt(math.log(total) / (t + 8)) for f, t in zip(older, used)]
    return scores


def test_matches_independent_float64_statement_on_random_run() -> None:
    rng = random.Random(7)
    policy = RestrictedPolicy(RestrictedMemoryConfig(recent_frames=5))
    state = {"smoothed": {}, "counts": {}}
    frames = [0]
    for frame in steps(GAP, 400):
        attention = [[rng.random() ** 3 for _ in frames] for _ in range(4)]
        attention = [[a / sum(row) for a in row] for row in attention]
        fg = [rng.random() for _ in range(4)]
        frames.append(frame)
        decision = select(policy, frames, torch.tensor(attention), torch.tensor(fg))
        position = decision.position
        expected_scores = reference_eviction(state, frames, attention, fg)
        assert decision.scores.score.tolist() == pytest.approx(expected_scores, abs=1e-6)
        if len(frames) > 6:
            ranked = sorted(range(1, len(expected_scores)), key=expected_scores.__getitem__)
            assert expected_scores[ranked[1]] - expected_scores[ranked[0]] > 1e-5, "near tie: pick another seed"
            assert position == ranked[0]
            frames.pop(position)
        else:
            assert position is None


@pytest.mark.parametrize("update_before_full", [False, True])
@pytest.mark.parametrize(("first_frames", "recent_frames"), [(1, 8), (1, 1), (2, 3), (3, 5)])
def test_capacity_first_and_newest_kept_on_long_runs(
    update_before_full: bool, first_frames: int, recent_frames: int
) -> None:
    rng = random.Random(first_frames * 10 + recent_frames)
    options = {"first_frames": first_frames, "recent_frames": recent_frames, "update_before_full": update_before_full}
    policy = build_memory_policy(memory_config("restricted", options))
    capacity = first_frames + recent_frames
    frames = [0]
    evicted = 0
    for frame in range(1, 301):
        attention = torch.rand(5, len(frames), generator=torch.Generator().manual_seed(frame))
        attention = attention / attention.sum(dim=1, keepdim=True)
        frames.append(frame)
        position = select(policy, frames, attention, torch.tensor([rng.random() for _ in range(5)])).position
        if position is not None:
            assert first_frames <= position < len(frames) - 1
            frames.pop(position)
            evicted += 1
        assert len(frames) == min(frame + 1, capacity)
        assert frames[:first_frames] == list(range(min(first_frames, frame + 1)))
        assert frames[-1] == frame
    assert evicted == 301 - capacity
