"""Test-time augmentation (``scales``, ``flip``) of the ``InferenceSession``, on a tiny random model.

The expected results come from plain single-view sessions driven through the public API as the official
evaluator drives its engines: each view predicts, the probabilities are averaged, and every view is
written with the label of the average (mirrored for a mirrored view).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aot_plus import InferenceSession
from aot_plus.config import InferenceConfig, load_eval_config
from aot_plus.errors import ConfigError
from aot_plus.inference import preprocess
from aot_plus.inference.augmentation import Augmentation, augmentations
from aot_plus.memory import RestrictedMemoryConfig, RestrictedPolicy

from .test_inference_session import HEIGHT, WIDTH, square_mask, video

FRAMES = 8
GAP = 2  # long-term writes on frames 2, 4, 6: eviction decisions within the clip
MEMORY = RestrictedMemoryConfig(recent_frames=2)  # 1 + 2 entries: one eviction on frame 6


def session(model: torch.nn.Module, **augmentation) -> InferenceSession:
    return InferenceSession(model, memory=MEMORY, long_term_gap=GAP, **augmentation)


def segment(tta: InferenceSession, frames: list[np.ndarray], mask: np.ndarray) -> list[torch.Tensor]:
    tta.add_reference(frames[0], mask)
    return [tta.step(frame).probs for frame in frames[1:]]


def test_views_follow_the_official_order() -> None:
    assert augmentations((1.0, 1.3), flip=True) == (
        Augmentation(1.0, False),
        Augmentation(1.0, True),
        Augmentation(1.3, False),
        Augmentation(1.3, True),
    )
    assert augmentations() == (Augmentation(),)
    with pytest.raises(ValueError, match="at least one scale"):
        augmentations(())
    with pytest.raises(ValueError, match="positive"):
        InferenceConfig(scales=(1.0, 0.0))


def test_config_overrides_set_the_views_and_bad_values_are_named() -> None:
    config = load_eval_config("aott", "restricted", overrides=["inference.scales=[1, 1.3]", "inference.flip=true"])
    assert config.inference.scales == (1.0, 1.3) and config.inference.flip is True
    assert config.to_dict()["inference"]["scales"] == [1.0, 1.3]  # as saved in a results folder's config.yaml
    with pytest.raises(ConfigError, match="inference: scales must be a list, got 1.3"):
        load_eval_config("aott", "restricted", overrides=["inference.scales=1.3"])
    with pytest.raises(ConfigError, match="inference: scales must be a number, got 'big'"):
        load_eval_config("aott", "restricted", overrides=["inference.scales=[1, big]"])
    with pytest.raises(ConfigError, match="at least one scale"):
        load_eval_config("aott", "restricted", overrides=["inference.scales=[]"])


@pytest.mark.parametrize(
    ("size", "scale", "expected"),
    [
        # 480x854 is under the 1040 cap: int(480 * 1.3) = 624 -> 16 * round(623 / 16) + 1 = 625, and
        # int(854 * 1.3) = 1110 -> 16 * round(1109 / 16) + 1 = 1105.
        ((480, 854), 1.3, (625, 1105)),
        ((480, 854), 0.5, (241, 433)),  # 240 -> 16 * round(14.94) + 1; 427 -> 16 * round(26.63) + 1
        # 720x1280 is capped first: 720 * 1040/1280 = 585 (then * 0.75 = 438.75 -> 438 -> 16 * 27 + 1 = 433)
        # and 1280 * 1040/1280 = 1040 (* 0.75 = 780 -> 16 * round(48.69) + 1 = 785).
        ((720, 1280), 0.75, (433, 785)),
    ],
)
def test_each_scale_uses_the_official_resize_rule(size, scale, expected) -> None:
    assert preprocess.test_time_size(*size, scale=scale) == expected
    image = np.zeros((*size, 3), np.uint8)
    assert tuple(preprocess.preprocess_image(image, scale=scale).shape[-2:]) == expected


def test_one_scale_equals_no_augmentation(aot_model) -> None:
    frames, mask = video(0, FRAMES), square_mask()
    plain = segment(session(aot_model), frames, mask)
    for views in ({"scales": (1.0,)}, {"scales": (1.0, 1.0)}):  # the mean of equal views is that view
        same = segment(session(aot_model, **views), frames, mask)
        assert all(torch.equal(a, b) for a, b in zip(plain, same)), views


def test_probabilities_average_over_scales_and_every_view_gets_the_averaged_label(any_model) -> None:
    frames, mask = video(1, FRAMES), square_mask()
    scales = (1.0, 0.7)
    tta = session(any_model, scales=scales)
    views = [session(any_model, scales=(scale,)) for scale in scales]
    tta.add_reference(frames[0], mask)
    for view in views:
        view.add_reference(frames[0], mask)
    for t, frame in enumerate(frames[1:], start=1):
        got = tta.step(frame)
        probs = [view.predict(frame).probs for view in views]
        expected = (probs[0] + probs[1]) / 2
        torch.testing.assert_close(got.probs, expected, rtol=0, atol=1e-7, msg=f"frame {t}")
        label = expected.argmax(dim=1)[0].to(torch.uint8).numpy()
        assert np.array_equal(got.label, label), f"frame {t}"
        for view in views:
            view.update(label)
    assert tta.memory_frames_per_augmentation == [view.memory_frames for view in views]


def test_flipped_view_sees_the_mirrored_video_and_is_mirrored_back(any_model) -> None:
    # 49x65 frames need no resize, so the flipped view is exactly a session on the mirrored video.
    frames, mask = video(2, FRAMES), square_mask()
    tta = session(any_model, flip=True)
    plain, mirrored = session(any_model), session(any_model)
    tta.add_reference(frames[0], mask)
    plain.add_reference(frames[0], mask)
    mirrored.add_reference(frames[0][:, ::-1].copy(), mask[:, ::-1].copy())
    for t, frame in enumerate(frames[1:], start=1):
        got = tta.step(frame)
        a = plain.predict(frame).probs
        b = mirrored.predict(frame[:, ::-1].copy()).probs.flip(-1)
        assert torch.equal(got.probs, (a + b) / 2), f"frame {t}"
        plain.update(got.label)
        mirrored.update(got.label[:, ::-1].copy())
    assert tta.memory_frames_per_augmentation == [plain.memory_frames, mirrored.memory_frames]


def test_flip_of_a_flipped_video_gives_the_flipped_result(any_model) -> None:
    frames, mask = video(3, FRAMES), square_mask()
    forward = segment(session(any_model, flip=True), frames, mask)
    flipped_frames = [frame[:, ::-1].copy() for frame in frames]
    backward = segment(session(any_model, flip=True), flipped_frames, mask[:, ::-1].copy())
    for t, (a, b) in enumerate(zip(forward, backward), start=1):
        assert torch.equal(a.flip(-1), b), f"frame {t}"


def test_each_view_has_its_own_memory_policy(aot_model) -> None:
    made: list[RestrictedPolicy] = []

    def factory() -> RestrictedPolicy:
        made.append(RestrictedPolicy(MEMORY))
        return made[-1]

    tta = InferenceSession(aot_model, memory=factory, long_term_gap=GAP, scales=(1.0, 0.7), flip=True)
    segment(tta, video(4, 3), square_mask())
    assert len(made) == 4 and len({id(policy) for policy in made}) == 4
    assert tta.memory_frames_per_augmentation == [[0, 2]] * 4


def test_later_objects_are_added_to_every_view(aot_model) -> None:
    frames = video(5, 4)
    tta = InferenceSession(aot_model, long_term_gap=GAP, scales=(1.0, 0.7), flip=True)
    tta.add_reference(frames[0], square_mask(1))
    tta.step(frames[1])
    later = np.zeros((HEIGHT, WIDTH), np.uint8)
    later[35:45, 40:60] = 2
    label = tta.add_reference(frames[2], later)
    assert tta.object_ids == [0, 1, 2] and (label[35:45, 40:60] == 2).all()
    assert tta.step(frames[3]).probs.shape == (1, 11, HEIGHT, WIDTH)
    assert tta.memory_frames_per_augmentation == [[0, 2]] * 4
