"""``propagate_video``: the loop over a video's frames, its results one frame late."""

from __future__ import annotations

import numpy as np
import pytest

from aot_plus import InferenceSession
from aot_plus.inference.video import propagate_video
from tests.inference.test_inference_session import HEIGHT, WIDTH, square_mask, video


def new_object_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[35:45, 40:60] = 9
    return mask


def test_results_equal_a_session_run_by_hand_and_come_one_frame_late(any_model):
    frames = video(4, 9)
    references = {0: square_mask(4), 5: new_object_mask()}
    by_hand = InferenceSession(any_model, memory="fifo", long_term_gap=2)
    expected = []  # (label, memory frames, is reference) after each frame
    for t, frame in enumerate(frames):
        if t in references:
            expected.append((by_hand.add_reference(frame, references[t]), by_hand.memory_frames, True))
        else:
            expected.append((by_hand.step(frame).label, by_hand.memory_frames, False))

    session = InferenceSession(any_model, memory="fifo", long_term_gap=2)
    seen_when_yielded = []
    results = []
    for result in propagate_video(session, frames, references):
        seen_when_yielded.append(session.frame_index)
        results.append(result)
    assert [r.position for r in results] == list(range(9))
    # Frame t's result is read once frame t + 1 was segmented; the last once the frames ran out. The
    # memory frames (writes every 2 frames, and the forced write of the reference at 5) are frame t's.
    assert seen_when_yielded == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    for t, (result, (label, memory_frames, is_reference)) in enumerate(zip(results, expected)):
        assert np.array_equal(result.label, label), t
        assert result.label.dtype == np.uint8 and result.label.shape == (HEIGHT, WIDTH)
        assert result.memory_frames == memory_frames, t
        assert result.is_reference == is_reference and result.seconds > 0, t
    assert [r.memory_frames for r in results] == [[0], [0], [0, 2], [0, 2], [0, 2, 4], [0, 2, 4, 5]] + [
        [0, 2, 4, 5],
        [0, 2, 4, 5, 7],
        [0, 2, 4, 5, 7],
    ]
    assert (results[5].label[new_object_mask() == 9] == 2).all()  # the new object pasted as index 2


def test_an_error_comes_after_the_results_of_every_frame_before_it(aot_model):
    frames = video(7, 4)

    def unreadable_after_three():
        yield from frames[:3]
        raise OSError("frame 3: truncated")

    session = InferenceSession(aot_model)
    results = propagate_video(session, unreadable_after_three(), {0: square_mask()})
    assert [next(results).position for _ in range(3)] == [0, 1, 2]
    with pytest.raises(OSError, match="frame 3: truncated"):
        next(results)

    wrong_size = [*frames[:2], np.zeros((HEIGHT + 16, WIDTH, 3), np.uint8)]
    results = propagate_video(InferenceSession(aot_model), wrong_size, {0: square_mask()})
    assert [next(results).position for _ in range(2)] == [0, 1]
    with pytest.raises(ValueError, match="frame 2 is"):
        next(results)


def test_a_one_frame_video_gives_its_reference(aot_model):
    frame = video(5, 1)[0]
    results = list(propagate_video(InferenceSession(aot_model), [frame], {0: square_mask(3)}))
    assert len(results) == 1 and results[0].is_reference and results[0].memory_frames == [0]
    assert np.array_equal(results[0].label, (square_mask(3) > 0).astype(np.uint8))


def test_the_first_frame_needs_a_reference(aot_model):
    with pytest.raises(ValueError, match="the first frame needs a reference mask"):
        next(propagate_video(InferenceSession(aot_model), video(6, 2), {1: square_mask()}))
