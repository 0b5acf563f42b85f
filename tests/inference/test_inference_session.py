"""The streaming ``InferenceSession`` on small randomly initialised models and 49x65 frames (no resize).

49 x 65 = (16*3+1) x (16*4+1): a 4 x 5 token grid and 13 x 17 logits, so each frame costs milliseconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aot_plus import InferenceSession
from aot_plus.memory import EvictionDecision, FifoConfig, MemoryPolicy

HEIGHT, WIDTH = 49, 65
LOGIT_SIZE = (13, 17)


def video(seed: int, num_frames: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> list[np.ndarray]:
    """Random RGB frames with a bright square that moves one pixel right per frame."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(num_frames):
        frame = rng.integers(0, 120, size=(*size, 3), dtype=np.uint8)
        frame[10:30, 5 + t : 25 + t] = (230, 200, 40)
        frames.append(frame)
    return frames


def square_mask(object_id: int = 1) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[10:30, 5:25] = object_id
    return mask


def stripes_mask(ids: list[int], size: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """One vertical stripe per id, left to right, background on the right."""
    mask = np.zeros(size, dtype=np.uint8)
    for i, object_id in enumerate(ids):
        mask[:, 5 * i : 5 * i + 5] = object_id
    return mask


def run(session: InferenceSession, frames: list[np.ndarray], mask: np.ndarray) -> list[torch.Tensor]:
    session.add_reference(frames[0], mask)
    return [session.step(frame).logits for frame in frames[1:]]


def test_unrestricted_memory_takes_every_gap_th_frame(aot_model):
    session = InferenceSession(aot_model, memory="unrestricted", long_term_gap=3)
    frames = video(0, 11)
    session.add_reference(frames[0], square_mask())
    assert session.memory_frames == [0] and session.frame_index == 0
    for t, frame in enumerate(frames[1:], start=1):
        session.step(frame)
        assert session.frame_index == t
        assert session.memory_frames == list(range(0, t + 1, 3))


def test_restricted_memory_holds_nine_frames_with_the_first_and_the_newest(any_model):
    session = InferenceSession(any_model, memory="restricted", long_term_gap=1)
    frames = video(1, 14)
    session.add_reference(frames[0], square_mask())
    for t, frame in enumerate(frames[1:], start=1):
        session.step(frame)
        memory = session.memory_frames
        assert len(memory) == min(t + 1, 9)
        assert memory[0] == 0 and memory[-1] == t
        assert memory == sorted(set(memory))


def test_fifo_memory_keeps_the_first_and_the_eight_newest(aot_model):
    session = InferenceSession(aot_model, memory="fifo", long_term_gap=2)
    frames = video(2, 25)
    run(session, frames, square_mask())
    assert session.memory_frames == [0, 10, 12, 14, 16, 18, 20, 22, 24]


def test_step_equals_predict_then_update_with_its_label(any_model):
    frames = video(3, 8)
    stepped = InferenceSession(any_model, memory="restricted", long_term_gap=2)
    manual = InferenceSession(any_model, memory="restricted", long_term_gap=2)
    stepped.add_reference(frames[0], square_mask())
    manual.add_reference(frames[0], square_mask())
    for frame in frames[1:]:
        a = stepped.step(frame)
        b = manual.predict(frame)
        manual.update(b.label)
        assert torch.equal(a.logits, b.logits) and torch.equal(a.probs, b.probs)
        assert np.array_equal(a.label, b.label)
    assert stepped.memory_frames == manual.memory_frames == [0, 2, 4, 6]


def test_memory_writes_embed_unused_slots_and_ignore_as_the_full_one_hot_does(any_model):
    """The session embeds only the ids up to a label's highest one; a label holding an id slot no object
    uses (a prediction may) or ignore pixels must give the memories of the full official one-hot."""
    frames = video(4, 6)
    sliced = InferenceSession(any_model, memory="restricted", long_term_gap=2)
    full = InferenceSession(any_model, memory="restricted", long_term_gap=2)
    model = any_model
    full._id_embedding = lambda label: model.id_embedding(model.one_hot_ids(label))
    for session in (sliced, full):
        session.add_reference(frames[0], stripes_mask([1, 2]))
    unused_slot, ignore_and_slot_4 = stripes_mask([1, 2]), np.full((HEIGHT, WIDTH), 4, np.uint8)
    unused_slot[:, WIDTH // 2 :] = 9
    ignore_and_slot_4[: HEIGHT // 2] = 255
    labels = [stripes_mask([1, 2]), unused_slot, ignore_and_slot_4, stripes_mask([0, 0])]
    for frame, label in zip(frames[1:], labels):
        a, b = sliced.predict(frame), full.predict(frame)
        torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
        sliced.update(label)
        full.update(label)
    a, b = sliced.predict(frames[-1]), full.predict(frames[-1])
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
    # Slot 9 and ignore reached the memory: without them the last prediction moves (a randomly
    # initialised ID bank is small, hence the moderate bound, still 30 times the tolerance above).
    plain = InferenceSession(any_model, memory="restricted", long_term_gap=2)
    plain.add_reference(frames[0], stripes_mask([1, 2]))
    for frame in frames[1:-1]:
        plain.predict(frame)
        plain.update(stripes_mask([1, 2]))
    assert (plain.predict(frames[-1]).logits - a.logits).abs().max() > 3e-4


def test_frames_as_cpu_tensors_give_the_results_of_arrays(any_model):
    frames = video(3, 8)
    arrays = run(InferenceSession(any_model, long_term_gap=2), frames, square_mask())
    tensors = run(InferenceSession(any_model, long_term_gap=2), [torch.from_numpy(f) for f in frames], square_mask())
    assert len(arrays) == len(tensors) == 7
    for t, (ours, theirs) in enumerate(zip(tensors, arrays), start=1):
        assert torch.equal(ours, theirs), f"frame {t}"


def test_prediction_shapes_and_label_is_the_argmax(aot_model):
    session = InferenceSession(aot_model)
    frames = video(4, 2)
    session.add_reference(frames[0], square_mask())
    out = session.step(frames[1])
    assert out.logits.shape == (1, 11, *LOGIT_SIZE)
    assert out.probs.shape == (1, 11, HEIGHT, WIDTH)
    torch.testing.assert_close(out.probs.sum(dim=1), torch.ones(1, HEIGHT, WIDTH))
    assert out.label.shape == (HEIGHT, WIDTH) and out.label.dtype == np.uint8
    assert np.array_equal(out.label, out.probs[0].argmax(dim=0).numpy())


def test_calls_out_of_order_raise(aot_model):
    frames = video(5, 3)
    session = InferenceSession(aot_model)
    with pytest.raises(RuntimeError, match="add_reference"):
        session.predict(frames[1])
    with pytest.raises(RuntimeError, match="no frame yet"):
        _ = session.frame_index
    session.add_reference(frames[0], square_mask())
    with pytest.raises(RuntimeError, match="call predict"):
        session.update(np.zeros((HEIGHT, WIDTH), np.uint8))
    out = session.predict(frames[1])
    with pytest.raises(RuntimeError, match="call update"):
        session.predict(frames[2])
    with pytest.raises(RuntimeError, match="call update"):
        session.add_reference(frames[2], square_mask(2))
    session.update(out.label)
    with pytest.raises(RuntimeError, match="call predict"):
        session.update(out.label)


def test_frame_of_another_size_is_refused_and_the_session_goes_on(aot_model):
    frames = video(6, 3)
    session = InferenceSession(aot_model)
    session.add_reference(frames[0], square_mask())
    session.step(frames[1])
    with pytest.raises(ValueError, match="frame 2 is 33x49, but the video started at 65x49"):
        session.predict(frames[2][:, :33])
    out = session.predict(frames[2])
    with pytest.raises(ValueError, match=r"label is \(49, 66\), the frame is \(49, 65\)"):
        session.update(np.zeros((HEIGHT, WIDTH + 1), np.uint8))
    session.update(out.label)
    assert session.frame_index == 2


def test_bad_reference_masks_are_refused(aot_model):
    frame = video(7, 1)[0]
    session = InferenceSession(aot_model)
    with pytest.raises(ValueError, match="mask is"):
        session.add_reference(frame, np.zeros((HEIGHT, WIDTH + 1), np.uint8))
    with pytest.raises(ValueError, match="integer ids 0..255"):
        session.add_reference(frame, np.full((HEIGHT, WIDTH), 300, np.int32))
    with pytest.raises(ValueError, match="integer ids 0..255"):
        session.add_reference(frame, np.zeros((HEIGHT, WIDTH), np.float32))


def test_twelve_objects_run_in_two_groups_and_merge_like_the_official_engine(aot_model):
    ids = [3 * i + 2 for i in range(12)]  # 2, 5, ..., 35: ids unlike their indices
    frames = video(8, 4)
    session = InferenceSession(aot_model, memory="restricted", long_term_gap=2)
    session.add_reference(frames[0], stripes_mask(ids))
    assert session.object_ids == [0] + ids
    for frame in frames[1:]:
        out = session.step(frame)
        assert out.logits.shape == (2, 11, *LOGIT_SIZE)
        assert out.probs.shape == (1, 21, HEIGHT, WIDTH)
        assert not torch.equal(out.logits[0], out.logits[1])  # each group has its own memory
        # Official soft aggregation: product of the backgrounds, clamp, logit, softmax.
        upsampled = torch.nn.functional.interpolate(
            out.logits, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=True
        )
        probs = torch.softmax(upsampled, dim=1)
        merged = torch.cat([probs[:1, :1] * probs[1:, :1], probs[:1, 1:], probs[1:, 1:]], dim=1)
        expected = torch.softmax(torch.logit(merged.clamp(1e-5, 1 - 1e-5)), dim=1)
        torch.testing.assert_close(out.probs, expected, rtol=0, atol=1e-6)
        assert np.array_equal(out.label, out.probs[0].argmax(dim=0).numpy())
        assert set(np.unique(session.to_ids(out.label))) <= {0, *ids}
    assert session.memory_frames_per_group == [[0, 2], [0, 2]]
    assert session.to_ids(np.arange(21)).tolist() == [0] + ids + [0] * 8


def test_later_reference_adds_an_object_and_keeps_the_memory(aot_model):
    frames = video(9, 8)
    session = InferenceSession(aot_model, memory="unrestricted", long_term_gap=2)
    session.add_reference(frames[0], square_mask(4))
    for frame in frames[1:4]:
        session.step(frame)
    assert session.memory_frames == [0, 2]
    new_object = np.zeros((HEIGHT, WIDTH), np.uint8)
    new_object[35:45, 40:60] = 9
    session.add_reference(frames[4], new_object)
    assert session.object_ids == [0, 4, 9]
    assert session.frame_index == 4
    assert session.memory_frames == [0, 2, 4]  # the new frame is written, nothing is reset
    session.step(frames[5])
    session.step(frames[6])
    assert session.memory_frames == [0, 2, 4, 6]


def test_later_reference_beyond_ten_objects_opens_a_second_group(aot_model):
    frames = video(10, 5)
    session = InferenceSession(aot_model, memory="unrestricted", long_term_gap=2)
    session.add_reference(frames[0], stripes_mask(list(range(1, 11))))
    session.step(frames[1])
    session.step(frames[2])
    eleventh = np.zeros((HEIGHT, WIDTH), np.uint8)
    eleventh[40:, 55:] = 11
    session.add_reference(frames[3], eleventh)
    assert session.object_ids == list(range(12))
    assert session.memory_frames_per_group == [[0, 2, 3], [3]]
    out = session.step(frames[4])
    assert out.logits.shape == (2, 11, *LOGIT_SIZE) and out.probs.shape == (1, 21, HEIGHT, WIDTH)


def test_ignore_region_of_the_first_mask_is_an_object_written_back_as_255(aot_model):
    frames = video(11, 4)
    with_ignore = square_mask(1)
    with_ignore[35:45, 30:60] = 255
    session = InferenceSession(aot_model)
    logits = run(session, frames, with_ignore)
    assert session.object_ids == [0, 1, 255]
    assert session.to_ids(np.array([0, 1, 2, 3])).tolist() == [0, 1, 255, 0]
    # Exactly as if the region were a third object with id 2 (the official index squeezing).
    as_object = np.where(with_ignore == 255, 2, with_ignore).astype(np.uint8)
    reference = run(InferenceSession(aot_model), frames, as_object)
    assert all(torch.equal(a, b) for a, b in zip(logits, reference))


def test_session_leaves_the_model_parameters_untouched(any_model):
    before = {k: v.clone() for k, v in any_model.state_dict().items()}
    run(InferenceSession(any_model, memory="restricted", long_term_gap=1), video(12, 12), square_mask())
    after = any_model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_interleaved_sessions_on_one_model_do_not_interfere(any_model):
    video_a, video_b = video(13, 12), video(14, 12, size=(33, 81))  # other size: other token grid
    mask_a, mask_b = square_mask(1), stripes_mask([1, 2, 3], size=(33, 81))
    first_a, first_b = InferenceSession(any_model, long_term_gap=1), InferenceSession(any_model, long_term_gap=1)
    alone_a, alone_b = run(first_a, video_a, mask_a), run(first_b, video_b, mask_b)

    session_a = InferenceSession(any_model, long_term_gap=1)
    session_b = InferenceSession(any_model, long_term_gap=1)
    session_a.add_reference(video_a[0], mask_a)
    session_b.add_reference(video_b[0], mask_b)
    for t in range(1, 12):
        pending_b = session_b.predict(video_b[t])  # b waits for its update while a runs a whole step
        assert torch.equal(session_a.step(video_a[t]).logits, alone_a[t - 1])
        session_b.update(pending_b.label)
        assert torch.equal(pending_b.logits, alone_b[t - 1])
    assert session_a.memory_frames == first_a.memory_frames and len(first_a.memory_frames) == 9
    assert session_b.memory_frames == first_b.memory_frames


def test_later_reference_beyond_ten_objects_shows_the_new_object_as_background_to_group_one(aot_model):
    frames = video(11, 4)
    session = InferenceSession(aot_model, memory="unrestricted", long_term_gap=2)
    session.add_reference(frames[0], stripes_mask(list(range(1, 11))))
    session.step(frames[1])
    seen = []
    original = session._id_embedding
    session._id_embedding = lambda label: (seen.append(sorted(torch.unique(label).tolist())), original(label))[1]
    eleventh = np.zeros((HEIGHT, WIDTH), np.uint8)
    eleventh[40:, 55:] = 11
    session.add_reference(frames[2], eleventh)
    assert 11 not in seen[0]  # group 0's memory write: object 11 belongs to group 1
    assert seen[1] == [0, 1]  # group 1's reference: its first object, renumbered to 1


def test_later_reference_with_restricted_memory_scores_the_forced_write(any_model):
    frames = video(12, 6)
    session = InferenceSession(any_model, memory="restricted", long_term_gap=5)
    session.add_reference(frames[0], square_mask(1))
    session.step(frames[1])
    new_object = np.zeros((HEIGHT, WIDTH), np.uint8)
    new_object[35:45, 40:60] = 2
    session.add_reference(frames[2], new_object)  # not a gap frame: the write is forced
    assert session.memory_frames == [0, 2] and session.object_ids == [0, 1, 2]
    out = session.step(frames[3])
    assert out.probs.shape[1] == 11


def test_masking_unused_objects_keeps_labels_within_the_objects(aot_model):
    frames = video(13, 4)
    plain = InferenceSession(aot_model, memory="restricted", long_term_gap=2)
    masked = InferenceSession(aot_model, memory="restricted", long_term_gap=2, mask_unused_objects=True)
    for session in (plain, masked):
        session.add_reference(frames[0], stripes_mask([3, 7]))
    first_plain, first_masked = plain.step(frames[1]), masked.step(frames[1])
    # Same memories so far: the used slots are untouched, the others get -1e10.
    assert torch.equal(first_masked.logits[:, :3], first_plain.logits[:, :3])
    assert torch.all(first_masked.logits[:, 3:] == -1e10)
    # Random weights put pixels on unused slots; masked, every pixel goes to background or an object.
    assert (first_plain.label > 2).any()
    for frame in frames[2:]:
        out = masked.step(frame)
        assert set(np.unique(out.label).tolist()) <= {0, 1, 2}
        assert torch.all(out.probs[:, 3:] == 0)


class KeepThreeNewest(MemoryPolicy):
    """A user's own policy: frame 0 and the three newest frames."""

    def __init__(self) -> None:
        self.calls = 0

    def select_eviction(self, frames, evidence):
        self.calls += 1
        return EvictionDecision(1 if len(frames) > 4 else None)


def test_session_takes_a_config_or_a_policy_factory_and_reports_every_write(aot_model):
    frames = video(7, 12)
    custom = InferenceSession(aot_model, memory=KeepThreeNewest, long_term_gap=2)
    run(custom, frames, square_mask())
    assert custom.memory_config is None and custom.memory_frames == [0, 6, 8, 10]
    events = custom.memory_events
    assert [e.frame for e in events] == [0, 2, 4, 6, 8, 10]
    assert [e.evicted for e in events] == [None, None, None, None, 2, 4]
    assert all(e.scores is None and e.scored_frames == () for e in events)
    assert list(events[-1].frames) == custom.memory_frames

    configured = InferenceSession(aot_model, memory=FifoConfig(recent_frames=3), long_term_gap=2)
    fresh_custom = InferenceSession(aot_model, memory=KeepThreeNewest, long_term_gap=2)
    # FIFO of 1 + 3 keeps the same frames as the custom policy, so the predictions agree exactly.
    assert all(
        torch.equal(a, b)
        for a, b in zip(run(configured, frames, square_mask()), run(fresh_custom, frames, square_mask()))
    )
    assert configured.memory_config == FifoConfig(recent_frames=3)

    with pytest.raises(TypeError, match="returned FifoConfig, not a MemoryPolicy"):
        InferenceSession(aot_model, memory=FifoConfig).add_reference(frames[0], square_mask())


def test_restricted_events_hold_the_scores_of_every_write(any_model):
    session = InferenceSession(any_model, memory="restricted", long_term_gap=1)
    run(session, video(8, 13), square_mask())
    events = session.memory_events
    assert [list(e.frames) for e in events][-1] == session.memory_frames
    scored = [e for e in events if e.scores is not None]
    assert scored, "the bank overflowed, so the policy scored"
    for event in scored:
        assert len(event.scored_frames) == len(event.scores.score) == len(event.frames) - (event.evicted is None)
        assert torch.allclose(event.scores.score, event.scores.smoothed_relevance + event.scores.bonus)
        assert float(event.scores.relevance.sum()) == pytest.approx(1.0, abs=1e-5)
        if event.evicted is not None:
            position = list(event.scored_frames).index(event.evicted)
            assert position == 1 + int(torch.argmin(event.scores.score[1:]))


@pytest.mark.parametrize("tf32", [False, True])
def test_tf32_setting_holds_inside_the_session_and_is_restored(aot_model, monkeypatch, tf32):
    seen = []
    encode = aot_model.encode_image

    def recording(images):
        seen.append((torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision))
        return encode(images)

    monkeypatch.setattr(aot_model, "encode_image", recording)
    before = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    session = InferenceSession(aot_model, tf32=tf32)
    frames = video(0, 2)
    session.add_reference(frames[0], square_mask())
    session.step(frames[1])
    expected = "tf32" if tf32 else "ieee"
    assert seen == [(expected, expected)] * 2
    assert (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == before
