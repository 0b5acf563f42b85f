"""The session's graphs (``cuda_graph``), checked on the CPU with the stand-in of tests/graph_replay.py.

A replay runs the recorded operators again on the tensors they saw at recording, as a CUDA graph does,
so these tests fail if the frame's work reads anything that the session replaces instead of overwriting
(the memory banks, the short-term memory, the inputs), or if a recording is used after what it depends
on has changed. The real CUDA graphs are compared with eager inference in test_gpu_paths.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aot_plus import InferenceSession
from aot_plus.memory import RestrictedMemoryConfig
from tests.graph_replay import record
from tests.inference.test_inference_session import HEIGHT, WIDTH, square_mask, stripes_mask, video

SMALL_BANK = RestrictedMemoryConfig(recent_frames=2)  # capacity 3: full after two long-term writes
GAP = 2  # the bank is full from frame 4 on; frames 6, 8, ... evict


class RecordedSession(InferenceSession):
    """An InferenceSession whose graphs are recorded by the CPU stand-in; it counts recordings and replays."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recordings = 0
        self.replays = 0

    @staticmethod
    def _can_record(x: torch.Tensor) -> bool:
        return True

    def _record(self, fn):
        self.recordings += 1
        replay, outputs = record(fn)

        def counted() -> None:
            self.replays += 1
            replay()

        return counted, outputs


def run_both(model, frames, mask, **options):
    """A recorded and an eager session on the same video, each on its own predictions: the two sessions,
    started on the first frame, and an iterator that steps both through the rest, yielding
    (frame index, recorded prediction, eager prediction)."""
    recorded = RecordedSession(model, **options)
    eager = InferenceSession(model, cuda_graph=False, **options)
    for session in (recorded, eager):
        session.add_reference(frames[0], mask)
    steps = ((t, recorded.step(frame), eager.step(frame)) for t, frame in enumerate(frames[1:], start=1))
    return recorded, eager, steps


def events(session: InferenceSession) -> list[dict]:
    return [event.to_dict() for event in session.memory_events]


def assert_same_prediction(t, ours, theirs) -> None:
    assert torch.equal(ours.logits, theirs.logits), (
        f"frame {t}: max |logit diff| {(ours.logits - theirs.logits).abs().max().item()}"
    )
    assert torch.equal(ours.probs, theirs.probs), f"frame {t}"
    assert np.array_equal(ours.label, theirs.label), f"frame {t}"


def test_frame_graph_replays_the_eager_step_once_the_bank_is_full(any_model):
    frames = video(21, 16)
    replays_before_full = None
    recorded, eager, steps = run_both(any_model, frames, square_mask(), memory=SMALL_BANK, long_term_gap=GAP)
    for t, ours, theirs in steps:
        assert_same_prediction(t, ours, theirs)
        assert events(recorded) == events(eager), f"frame {t}"
        assert recorded.frame_replayed == (t >= 5) and not eager.frame_replayed, f"frame {t}"
        if t == 4:  # predicted with the bank [0, 2]; writing frame 4 fills it
            replays_before_full = recorded.replays
    assert recorded.memory_frames == eager.memory_frames == [0, 12, 14]
    assert [e.evicted for e in recorded.memory_events] == [e.evicted for e in eager.memory_events]
    assert sum(e.evicted is not None for e in recorded.memory_events) == 5  # frames 6 to 14 evict
    # The encoder's graph (from frame 0) and one frame graph (frame 5): the bank and the short-term memory
    # kept their addresses through five evictions, so nothing was recorded again.
    assert recorded.recordings == 2
    assert recorded.replays - replays_before_full == len(frames) - 5  # frames 5..15, one replay each


def test_predictions_stay_valid_after_the_next_replay(aot_model):
    frames = video(22, 9)
    session = RecordedSession(aot_model, memory=SMALL_BANK, long_term_gap=GAP)
    session.add_reference(frames[0], square_mask())
    kept = [session.step(frame) for frame in frames[1:]]
    copies = [(p.logits.clone(), p.probs.clone(), p.label_tensor.clone()) for p in kept]
    session.step(frames[-1])  # one more replay
    assert session.frame_replayed
    for p, (logits, probs, label) in zip(kept, copies):
        assert torch.equal(p.logits, logits) and torch.equal(p.probs, probs) and torch.equal(p.label_tensor, label)
    assert not torch.equal(kept[-1].probs, kept[-2].probs)


def test_unbounded_bank_never_fills_and_runs_eagerly_with_the_encoder_graph(aot_model):
    frames = video(23, 9)
    recorded, _, steps = run_both(aot_model, frames, square_mask(), memory="unrestricted", long_term_gap=GAP)
    for t, ours, theirs in steps:
        assert_same_prediction(t, ours, theirs)
        assert not recorded.frame_replayed
    assert recorded.memory_frames == [0, 2, 4, 6, 8]
    assert recorded.recordings == 1 and recorded.replays == len(frames)  # the encoder, every frame


def test_two_groups_and_flipped_views_replay_as_eager(aot_model):
    ids = list(range(1, 13))  # twelve objects: two groups
    frames = video(24, 9)
    options = {"memory": SMALL_BANK, "long_term_gap": GAP, "flip": True}
    recorded, _, steps = run_both(aot_model, frames, stripes_mask(ids), **options)
    for t, ours, theirs in steps:
        assert_same_prediction(t, ours, theirs)
    assert recorded.recordings == 3  # the encoder of each view, then one graph of the whole frame
    assert recorded.memory_frames_per_augmentation == [[0, 6, 8], [0, 6, 8]]


def test_a_new_object_makes_a_new_recording_and_results_stay_eager(aot_model):
    frames = video(25, 14)
    new_object = np.zeros((HEIGHT, WIDTH), np.uint8)
    new_object[35:45, 40:60] = 7
    options = {"memory": SMALL_BANK, "long_term_gap": GAP, "mask_unused_objects": True}
    recorded = RecordedSession(aot_model, **options)
    eager = InferenceSession(aot_model, cuda_graph=False, **options)
    for session in (recorded, eager):
        session.add_reference(frames[0], square_mask())
        for frame in frames[1:7]:
            session.step(frame)
    assert recorded.frame_replayed
    before = recorded.recordings
    for session in (recorded, eager):
        label = session.add_reference(frames[7], new_object)
    assert recorded.object_ids == eager.object_ids == [0, 1, 7]
    for t, frame in enumerate(frames[8:], start=8):
        assert_same_prediction(t, recorded.step(frame), eager.step(frame))
    # Same group, one more object: the unused-slot mask changed, so the frame was recorded again.
    assert recorded.recordings == before + 1
    assert recorded.memory_frames == eager.memory_frames
    assert label.max() == 2


@pytest.mark.parametrize("cuda_graph", [True, False])
def test_autocast_cache_is_off_exactly_when_graphs_may_record(aot_model, cuda_graph, monkeypatch):
    seen = []
    real_autocast = torch.autocast

    def spy(*args, **kwargs):
        seen.append(kwargs.get("cache_enabled"))
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", spy)
    session = InferenceSession(aot_model, precision="bf16", cuda_graph=cuda_graph)
    frames = video(26, 2)
    session.add_reference(frames[0], square_mask())
    assert seen == [not cuda_graph]


class FailingRecording(RecordedSession):
    """Records ``succeed`` graphs, then fails as a capture error on a GPU would."""

    def __init__(self, *args, succeed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.succeed = succeed

    def _record(self, fn):
        if self.recordings >= self.succeed:
            self.recordings += 1
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")
        return super()._record(fn)


@pytest.mark.parametrize(("succeed", "failed_frame"), [(0, 0), (1, 5)], ids=["encoder", "frame"])
def test_a_failed_recording_warns_once_and_the_video_goes_on_eagerly(aot_model, caplog, succeed, failed_frame):
    frames = video(27, 12)
    failing = FailingRecording(aot_model, memory=SMALL_BANK, long_term_gap=GAP, succeed=succeed)
    eager = InferenceSession(aot_model, cuda_graph=False, memory=SMALL_BANK, long_term_gap=GAP)
    with caplog.at_level("WARNING", logger="aot_plus.inference.session"):
        for session in (failing, eager):
            session.add_reference(frames[0], square_mask())
        for t, frame in enumerate(frames[1:], start=1):
            assert_same_prediction(t, failing.step(frame), eager.step(frame))
            assert not failing.frame_replayed
    assert [r.getMessage() for r in caplog.records] == [
        f"frame {failed_frame}: recording a CUDA graph failed (CUDA error: operation not permitted when stream is "
        "capturing); eager from now on"
    ]
    assert failing.recordings == succeed + 1  # the failed one, and none after it
    assert failing.memory_frames == eager.memory_frames
