"""The acceptance bar: our inference reproduces the official code's logits and memory bank.

Deterministic weights (fidelity README §A) are saved in the official layout and loaded through
``load_checkpoint``; the reference labels are fed back through ``update`` (teacher forcing), and after
every frame the decoder logits and the long-term memory frames are compared with the official run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import aot_plus
from tests.official_data import memory_record

from .reference import deterministic_state_dict, first_mask, frame_paths, read_rgb, reference

F32_TOLERANCE = 1e-4
# float16 storage of |logit| < 8 rounds by at most 2^-9 ~ 0.002; allow our own float32 error on top.
F16_TOLERANCE = 2.5e-3
SCORE_TOLERANCE = 1e-6


@dataclass
class Run:
    name: str
    ref: dict
    logits: dict[int, np.ndarray] = field(default_factory=dict)
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    memory: dict[int, list[int]] = field(default_factory=dict)
    events: list = field(default_factory=list)


def _teacher_forced_run(name: str, memory: str, tmp_path_factory) -> Run:
    path = tmp_path_factory.mktemp(f"det_{name}") / f"det_{name}.pth"
    torch.save({"state_dict": deterministic_state_dict(name)}, path)
    model = aot_plus.build_model(name)
    report = aot_plus.load_checkpoint(model, path)
    assert report.clean, report.summary()

    ref = reference(name, unrestricted=memory == "unrestricted")
    session = aot_plus.InferenceSession(model, memory=memory, long_term_gap=5)
    paths = frame_paths()
    session.add_reference(read_rgb(paths[0]), first_mask())
    run = Run(name, ref, memory={0: session.memory_frames})
    for t in range(1, len(paths)):
        out = session.predict(read_rgb(paths[t]))
        run.logits[t] = out.logits[0].numpy()
        run.labels[t] = out.label
        session.update(ref["labels"][t])
        run.memory[t] = session.memory_frames
    run.events = session.memory_events
    return run


@pytest.fixture(scope="module", params=["r50_aotl", "r50_deaotl"])
def restricted_run(request, tmp_path_factory) -> Run:
    return _teacher_forced_run(request.param, "restricted", tmp_path_factory)


@pytest.fixture(scope="module", params=["r50_aotl", "r50_deaotl"])
def unrestricted_run(request, tmp_path_factory) -> Run:
    return _teacher_forced_run(request.param, "unrestricted", tmp_path_factory)


def _expected_memory(ref: dict, t: int) -> list[int]:
    return [int(x) for x in ref["mem_indexes"][t] if x >= 0]


def test_float32_logits_match(restricted_run: Run):
    ref = restricted_run.ref
    for i, t in enumerate(ref["logits_native_f32_frames"]):
        diff = np.abs(restricted_run.logits[int(t)] - ref["logits_native_f32"][i]).max()
        assert diff < F32_TOLERANCE, f"frame {t}: max |logit diff| {diff}"


def test_every_frame_logits_match_float16_reference(restricted_run: Run):
    ref = restricted_run.ref
    diffs = {
        t: np.abs(lg - ref["logits_native_f16"][t].astype(np.float32)).max() for t, lg in restricted_run.logits.items()
    }
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < F16_TOLERANCE, f"frame {worst}: max |logit diff| {diffs[worst]}"


def test_memory_bank_matches_after_every_frame(restricted_run: Run):
    ref = restricted_run.ref
    for t, frames in restricted_run.memory.items():
        assert frames == _expected_memory(ref, t), f"after frame {t}"
    # The restriction really triggered: six evictions between frames 45 and 70.
    assert len(restricted_run.memory[70]) == 9 and restricted_run.memory[70][0] == 0


def test_own_argmax_equals_reference_labels_outside_near_ties(restricted_run: Run):
    ref = restricted_run.ref
    near_tie = np.unpackbits(ref["near_tie_1e-3_packed"])[: ref["labels"].size].reshape(ref["labels"].shape)
    for t, label in restricted_run.labels.items():
        differs = (label != ref["labels"][t]) & (near_tie[t] == 0)
        assert not differs.any(), f"frame {t}: {int(differs.sum())} pixels differ"


def test_unrestricted_memory_and_logits_match(unrestricted_run: Run):
    ref = unrestricted_run.ref
    for t, frames in unrestricted_run.memory.items():
        assert frames == _expected_memory(ref, t), f"after frame {t}"
    assert unrestricted_run.memory[71] == list(range(0, 71, 5))
    for i, t in enumerate(ref["logits_frames"]):
        diff = np.abs(unrestricted_run.logits[int(t)] - ref["logits_native_f16"][i].astype(np.float32)).max()
        assert diff < F16_TOLERANCE, f"frame {t}: max |logit diff| {diff}"


def test_every_scoring_call_matches_the_official_record(restricted_run: Run):
    """The relevance (foreground-weighted attention share) and the score of every eviction decision of the
    teacher-forced run equal the official `restrict_long_memories` records."""
    calls = {call["at_frame"]: call for call in memory_record(restricted_run.name)["restrict_long_memories_calls"]}
    writes = {event.frame: event for event in restricted_run.events}
    assert sorted(writes) == [0] + sorted(calls)
    scored = 0
    for frame, call in calls.items():
        event = writes[frame]
        assert list(event.frames) == call["indexes_after"], f"frame {frame}"
        assert event.evicted == (call["dropped"][0] if call["dropped"] else None), f"frame {frame}"
        if not call["state_updated"]:  # AOT scores only once the bank overflows
            assert event.scores is None, f"frame {frame}"
            continue
        scored += 1
        assert list(event.scored_frames) == call["indexes_before"][:-1], f"frame {frame}"
        for name, key in (("relevance", "attn_share_raw"), ("score", "score")):
            ours = getattr(event.scores, name).numpy()
            diff = np.abs(ours - np.asarray(call[key], dtype=np.float32)).max()
            assert diff <= SCORE_TOLERANCE, f"frame {frame}: {name} differs by {diff}"
    assert scored == (6 if restricted_run.name == "r50_aotl" else 14)
