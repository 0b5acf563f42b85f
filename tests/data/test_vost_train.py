"""VOST training clips: the sampler, the augmentations, the dynamic merge and the dataset's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from aot_plus.data import vost_train
from aot_plus.data.transforms import (
    IMAGE_PAD_RGB,
    balanced_random_crop,
    merge_clips,
    random_horizontal_flip,
    random_id_permutation,
    random_pad,
    random_scale,
    relabel,
    to_tensors,
)
from aot_plus.data.vost_train import (
    VOSTTrainClips,
    choose_reference,
    clip_positions,
    is_consistent,
    is_good_reference,
)
from aot_plus.errors import ConfigError, DatasetError
from evaluation.palette import save_index_png

HEIGHT, WIDTH = 40, 60


# ---------------------------------------------------------------------------------------------- fixtures


def grey_level(t: int) -> int:
    """Flat grey value of frame t's image, so a test can tell which frame an image is."""
    return 20 + 7 * t


def box_label(boxes: dict[int, tuple[int, int, int, int]], shape=(HEIGHT, WIDTH)) -> np.ndarray:
    """An id map with each id filling rows r0:r1, columns c0:c1."""
    label = np.zeros(shape, dtype=np.uint8)
    for object_id, (r0, r1, c0, c1) in boxes.items():
        label[r0:r1, c0:c1] = object_id
    return label


def two_objects(t: int) -> np.ndarray:
    """Object 1 (16x20 = 320 px) and object 2 (12x12 = 144 px), static."""
    return box_label({1: (2, 18, 2, 22), 2: (24, 36, 40, 52)})


def write_sequence(root: Path, name: str, labels: list[np.ndarray]) -> None:
    (root / "JPEGImages" / name).mkdir(parents=True)
    (root / "Annotations" / name).mkdir(parents=True)
    for t, label in enumerate(labels):
        image = np.full((*label.shape, 3), grey_level(t), dtype=np.uint8)
        Image.fromarray(image).save(root / "JPEGImages" / name / f"frame{t:04d}.jpg", quality=95)
        save_index_png(root / "Annotations" / name / f"frame{t:04d}.png", label)


def write_dataset(root: Path, sequences: dict[str, list[np.ndarray]], split: str = "train") -> Path:
    """A VOST-layout dataset: JPEGImages and Annotations per sequence, ImageSets/<split>.txt."""
    for name, labels in sequences.items():
        write_sequence(root, name, labels)
    (root / "ImageSets").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / f"{split}.txt").write_text("".join(f"{name}\n" for name in sequences))
    return root


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    return write_dataset(
        tmp_path / "vost",
        {"alpha": [two_objects(t) for t in range(24)], "beta": [two_objects(t) for t in range(20)]},
    )


def frame_index(stem: str) -> int:
    return int(stem.removeprefix("frame"))


# ----------------------------------------------------------------------------------- reference choice


def test_reference_needs_200_labelled_pixels_and_at_most_20_percent_ignore():
    def label(objects: int, ignored: int) -> np.ndarray:
        flat = np.zeros(1000, dtype=np.uint8)
        flat[:objects] = 1
        flat[objects : objects + ignored] = 255
        return flat.reshape(20, 50)

    assert is_good_reference(label(240, 60), 0.2)  # 60 / 300 = 0.2 exactly
    assert not is_good_reference(label(239, 61), 0.2)  # 61 / 300 > 0.2
    assert is_good_reference(label(201, 0), 0.2)
    assert not is_good_reference(label(200, 0), 0.2)  # needs more than 200
    assert not is_good_reference(label(0, 0), 0.2)
    assert is_good_reference(label(240, 60), 1.0) and not is_good_reference(label(100, 200), 0.5)


def test_reference_is_a_good_frame_among_the_first_n_minus_l():
    good = set(range(3, 11))
    for seed in range(50):
        position = choose_reference(30, 15, np.random.default_rng(seed), lambda p: p in good)
        assert position in good


def test_reference_without_any_good_frame_is_the_last_draw_in_range():
    positions = {choose_reference(30, 15, np.random.default_rng(seed), lambda p: False) for seed in range(30)}
    assert positions <= set(range(15)) and len(positions) > 5


def test_reference_is_frame_0_when_at_most_one_candidate():
    def never(position: int) -> bool:
        raise AssertionError("no frame should be examined")

    assert choose_reference(16, 15, np.random.default_rng(0), never) == 0
    assert choose_reference(15, 15, np.random.default_rng(0), never) == 0


# ------------------------------------------------------------------------------------------ clip frames


def test_clip_positions_have_gaps_1_to_3_and_stay_in_the_sequence():
    seen_gaps = set()
    for seed in range(200):
        rng = np.random.default_rng(seed)
        reference = int(rng.integers(0, 25))
        positions = clip_positions(40, reference, 15, 3, rng)
        gaps = np.diff(positions)
        assert len(positions) == 15 and positions[0] == reference
        assert set(gaps.tolist()) <= {1, 2, 3}
        assert positions[-1] < 40
        seen_gaps |= set(gaps.tolist())
    assert seen_gaps == {1, 2, 3}


def test_clip_positions_fall_back_to_consecutive_frames_when_no_gaps_fit():
    assert clip_positions(15, 0, 15, 3, np.random.default_rng(0)) == list(range(15))
    assert clip_positions(20, 4, 15, 3, np.random.default_rng(1)) == list(range(4, 19))
    with pytest.raises(ValueError, match="does not fit"):
        clip_positions(15, 1, 15, 3, np.random.default_rng(0))


def test_consistency_counts_every_non_zero_id_255_included():
    one, both = box_label({1: (0, 5, 0, 5)}), box_label({1: (0, 5, 0, 5), 2: (10, 15, 10, 15)})
    ignored = box_label({1: (0, 5, 0, 5), 255: (20, 25, 0, 5)})
    assert is_consistent([both, one, both])
    assert not is_consistent([one, one, both])
    assert not is_consistent([one, ignored])
    assert is_consistent([ignored, one])


def test_sampled_clip_reads_each_frames_own_image_in_either_direction(dataset_root: Path):
    dataset = VOSTTrainClips(dataset_root, seq_len=6, crop_size=65, short_edge=40)
    directions = set()
    for seed in range(40):
        clip = dataset.sample_clip(dataset.sequences[0], np.random.default_rng(seed))
        indices = [frame_index(stem) for stem in clip.frames]
        steps = np.diff(indices)
        assert len(indices) == 6
        assert set(np.abs(steps).tolist()) <= {1, 2, 3} and len(set(np.sign(steps).tolist())) == 1
        directions.add(int(np.sign(steps[0])))
        for t, image, label in zip(indices, clip.images, clip.labels):
            assert abs(float(image.mean()) - grey_level(t)) < 1.5  # the image of that very frame (§8.2.6)
            assert image.dtype == np.float32 and image.shape == (HEIGHT, WIDTH, 3)
            np.testing.assert_array_equal(label, two_objects(t))
    assert directions == {-1, 1}


def test_sampled_reference_respects_the_ignore_threshold(tmp_path: Path):
    def noisy(t: int) -> np.ndarray:
        # Object of 300 px; 100 ignored px (25%) on even frames, 30 (~9%) on odd frames.
        label = box_label({1: (0, 15, 0, 20)})
        label[20:25, 0 : 20 if t % 2 == 0 else 6] = 255
        return label

    root = write_dataset(
        tmp_path, {"noisy": [noisy(t) for t in range(30)], "plain": [two_objects(t) for t in range(30)]}
    )
    dataset = VOSTTrainClips(root, seq_len=5, crop_size=65, short_edge=40)
    references = [
        frame_index(dataset.sample_clip(dataset.sequences[0], np.random.default_rng(seed)).frames[0])
        for seed in range(40)
    ]
    assert all(t % 2 == 1 for t in references)
    loose = VOSTTrainClips(root, seq_len=5, crop_size=65, short_edge=40, ignore_thresh=0.3)
    references = [
        frame_index(loose.sample_clip(loose.sequences[0], np.random.default_rng(seed)).frames[0]) for seed in range(40)
    ]
    assert any(t % 2 == 0 for t in references)


def test_inconsistent_clips_are_redrawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def appearing(t: int) -> np.ndarray:
        # Object 2 exists only from frame 12 on.
        return box_label({1: (2, 18, 2, 22), **({2: (24, 36, 40, 52)} if t >= 12 else {})})

    root = write_dataset(
        tmp_path, {"late": [appearing(t) for t in range(24)], "plain": [two_objects(t) for t in range(24)]}
    )
    dataset = VOSTTrainClips(root, seq_len=6, crop_size=65, short_edge=40)

    def consistent_fraction() -> float:
        clips = [dataset.sample_clip(dataset.sequences[0], np.random.default_rng(seed)) for seed in range(100)]
        return float(np.mean([is_consistent(clip.labels) for clip in clips]))

    with_redraws = consistent_fraction()
    monkeypatch.setattr(vost_train, "CONSISTENCY_TRIES", 1)
    single_draw = consistent_fraction()
    assert with_redraws >= 0.95  # about 0.99: half the clips run forwards, 44% of those draws are inconsistent
    assert single_draw < 0.88  # about 0.78


# ------------------------------------------------------------------------------------------ augmentations


def test_random_scale_sets_the_short_edge():
    images = [np.zeros((HEIGHT, WIDTH, 3), np.float32)]
    labels = [two_objects(0)]
    scaled_images, scaled_labels = random_scale(images, labels, np.random.default_rng(0), 80, (1.0, 1.0))
    assert scaled_images[0].shape == (80, 120, 3) and scaled_labels[0].shape == (80, 120)
    assert set(np.unique(scaled_labels[0]).tolist()) == {0, 1, 2}
    assert np.count_nonzero(scaled_labels[0] == 1) == 4 * 320
    for seed in range(20):
        _, scaled = random_scale(images, labels, np.random.default_rng(seed), 80, (0.7, 1.3))
        assert 56 <= min(scaled[0].shape) <= 104


def test_crop_keeps_objects_over_100_pixels_and_renumbers_them():
    reference = box_label({3: (0, 20, 0, 20), 7: (30, 38, 30, 38), 255: (0, 2, 40, 60)}, (50, 60))
    later = box_label({3: (5, 25, 0, 20), 9: (30, 40, 0, 20)}, (50, 60))
    images = [np.zeros((50, 60, 3), np.float32)] * 2
    _, labels, obj_num = balanced_random_crop(images, [reference, later], np.random.default_rng(0), 65)
    assert obj_num == 1
    np.testing.assert_array_equal(labels[0], box_label({1: (0, 20, 0, 20), 255: (0, 2, 40, 60)}, (50, 60)))
    np.testing.assert_array_equal(labels[1], box_label({1: (5, 25, 0, 20)}, (50, 60)))


def test_crop_keeps_at_most_max_obj_objects():
    label = np.zeros((44, 66), np.uint8)
    for object_id in range(1, 13):
        row, column = divmod(object_id - 1, 6)
        label[row * 11 : row * 11 + 11, column * 11 : column * 11 + 11] = object_id
    _, labels, obj_num = balanced_random_crop(
        [np.zeros((44, 66, 3), np.float32)], [label], np.random.default_rng(3), 97, max_obj=10
    )
    assert obj_num == 10
    assert set(np.unique(labels[0]).tolist()) == set(range(11))
    for new_id in range(1, 11):
        original = np.unique(label[labels[0] == new_id])
        assert len(original) == 1 and np.count_nonzero(label == original[0]) == np.count_nonzero(labels[0] == new_id)


def test_crop_without_any_object_gives_zero_objects():
    label = box_label({5: (0, 5, 0, 5), 255: (10, 20, 0, 60)})
    _, labels, obj_num = balanced_random_crop(
        [np.zeros((HEIGHT, WIDTH, 3), np.float32)], [label], np.random.default_rng(0), 33
    )
    assert obj_num == 0 and labels[0].shape == (33, 33)
    assert set(np.unique(labels[0]).tolist()) <= {0, 255}


def test_flip_mirrors_images_and_labels_together():
    image = np.arange(HEIGHT * WIDTH * 3, dtype=np.float32).reshape(HEIGHT, WIDTH, 3)
    label = box_label({1: (0, 10, 0, 5)})
    flipped_images, flipped_labels = random_horizontal_flip([image], [label], np.random.default_rng(0), prob=1.0)
    np.testing.assert_array_equal(flipped_images[0], image[:, ::-1])
    np.testing.assert_array_equal(flipped_labels[0], label[:, ::-1])
    kept_images, kept_labels = random_horizontal_flip([image], [label], np.random.default_rng(0), prob=0.0)
    assert kept_images[0] is image and kept_labels[0] is label
    flips = [random_horizontal_flip([image], [label], np.random.default_rng(s))[1][0][0, 0] == 0 for s in range(40)]
    assert 10 < sum(flips) < 30


def test_padding_is_ignore_in_labels_and_mean_colour_in_images():
    image = np.full((10, 12, 3), 200.0, np.float32)
    label = np.ones((10, 12), np.uint8)
    tops = set()
    for seed in range(20):
        images, labels = random_pad([image], [label], np.random.default_rng(seed), 17)
        inside = labels[0] == 1
        rows, columns = np.nonzero(inside)
        assert inside.sum() == 120 and np.ptp(rows) == 9 and np.ptp(columns) == 11
        assert np.all(labels[0][~inside] == 255)
        np.testing.assert_array_equal(images[0][~inside], np.broadcast_to(IMAGE_PAD_RGB, (17 * 17 - 120, 3)))
        assert np.all(images[0][inside] == 200.0)
        tops.add(int(rows.min()))
    assert len(tops) > 2
    _, labels = random_pad([image], [label], np.random.default_rng(0), 17, label_pad=0)
    assert set(np.unique(labels[0]).tolist()) == {0, 1}
    with pytest.raises(ValueError, match="crop it first"):
        random_pad([image], [label], np.random.default_rng(0), 11)


def test_to_tensors_normalises_with_imagenet_statistics():
    image = np.empty((2, 3, 3), np.float32)
    image[:] = (124.0, 116.0, 104.0)
    image[0, 0] = (255.0, 0.0, 51.0)
    images, labels = to_tensors([image], [np.array([[0, 1, 255], [2, 0, 0]], np.uint8)])
    assert images.dtype == torch.float32 and images.shape == (1, 3, 2, 3)
    assert labels.dtype == torch.int64 and labels.tolist() == [[[0, 1, 255], [2, 0, 0]]]
    expected_pixel = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225]
    torch.testing.assert_close(images[0, :, 0, 0], torch.tensor(expected_pixel), atol=1e-6, rtol=0)
    expected_pad = [(124 / 255 - 0.485) / 0.229, (116 / 255 - 0.456) / 0.224, (104 / 255 - 0.406) / 0.225]
    torch.testing.assert_close(images[0, :, 1, 2], torch.tensor(expected_pad), atol=1e-6, rtol=0)


def test_relabel_maps_kept_ids_in_order_and_keeps_ignore():
    label = np.array([[4, 6, 9, 255, 0]], np.uint8)
    assert relabel(label, [9, 4]).tolist() == [[2, 0, 1, 255, 0]]


# ------------------------------------------------------------------------------------------- dynamic merge


def test_merge_pastes_the_second_clip_and_renumbers_the_survivors():
    shape = (20, 20)
    first = box_label({1: (0, 10, 0, 15), 2: (12, 16, 0, 10), 255: (18, 20, 0, 20)}, shape)  # 150, 40, 40 px
    second = box_label({1: (5, 16, 10, 20), 255: (0, 2, 0, 5)}, shape)  # 110 px, 10 px
    image1, image2 = np.full((*shape, 3), 10.0, np.float32), np.full((*shape, 3), 99.0, np.float32)
    images, labels, obj_num = merge_clips(([image1], [first]), ([image2], [second]), np.random.default_rng(0))

    expected = np.zeros(shape, np.uint8)
    expected[first == 1] = 1
    expected[second > 0] = 0  # the pasted ignore region hides what lies below too
    expected[second == 1] = 2
    expected[(expected == 0) & ((first == 255) | (second == 255))] = 255
    assert obj_num == 2
    np.testing.assert_array_equal(labels[0], expected)
    # Object 1 of the first clip loses rows 5-9 x columns 10-14 to the pasted object and rows 0-1 x
    # columns 0-4 to the pasted ignore region.
    assert np.count_nonzero(labels[0] == 1) == 150 - 25 - 10
    assert np.count_nonzero(labels[0] == 255) == 40 + 10
    pasted = second > 0
    assert np.all(images[0][pasted] == 99.0) and np.all(images[0][~pasted] == 10.0)


def test_merge_drops_objects_small_in_the_reference_in_every_frame():
    shape = (20, 20)
    big_first, big_second = box_label({1: (0, 11, 0, 11)}, shape), box_label({1: (9, 20, 9, 20)}, shape)
    small = box_label({1: (0, 11, 0, 11), 2: (15, 20, 0, 5)}, shape)  # object 2: 25 px in the reference
    image = np.zeros((*shape, 3), np.float32)
    _, labels, obj_num = merge_clips(
        ([image, image], [small, small]), ([image, image], [big_second, big_second]), np.random.default_rng(0)
    )
    assert obj_num == 2
    for label in labels:
        assert set(np.unique(label).tolist()) == {0, 1, 2}
        assert np.count_nonzero(label == 2) == 121 and np.count_nonzero(label == 1) == 121 - 4
    with pytest.raises(ValueError, match="cannot merge"):
        merge_clips(([image], [big_first]), ([image, image], [big_second, big_second]), np.random.default_rng(0))


def test_merge_keeps_a_random_ten_of_twelve_objects():
    shape = (22, 66)

    def six_objects() -> np.ndarray:
        label = np.zeros(shape, np.uint8)
        for object_id in range(1, 7):
            label[:11, (object_id - 1) * 11 : object_id * 11] = object_id
        return label

    first, second = six_objects(), np.roll(six_objects(), 11, axis=0)
    image = np.zeros((*shape, 3), np.float32)
    kept_sets = set()
    for seed in range(10):
        _, labels, obj_num = merge_clips(([image], [first]), ([image], [second]), np.random.default_rng(seed))
        assert obj_num == 10 and set(np.unique(labels[0]).tolist()) == set(range(11))
        assert np.count_nonzero(labels[0]) == 10 * 121
        kept_sets.add(frozenset(map(tuple, np.argwhere(labels[0] > 0)[:, :2].tolist())))
    assert len(kept_sets) > 1


# --------------------------------------------------------------------------------------- id permutation


def test_random_id_permutation_keeps_background_and_inverts_on_logits():
    generator = torch.Generator().manual_seed(0)
    matrices = random_id_permutation(3, max_obj=10, generator=generator)
    assert matrices.shape == (3, 11, 11) and matrices.dtype == torch.float32
    for matrix in matrices:
        assert matrix[0, 0] == 1 and matrix.sum(0).eq(1).all() and matrix.sum(1).eq(1).all()
    assert not torch.equal(matrices[0], matrices[1])
    torch.testing.assert_close(random_id_permutation(3, 10, torch.Generator().manual_seed(0)), matrices)
    masks = torch.rand(3, 11, 4, 5)
    shuffled = torch.einsum("bohw,bot->bthw", masks, matrices)
    order = matrices.argmax(-1)
    for b in range(3):
        for i in range(11):
            torch.testing.assert_close(shuffled[b, order[b, i]], masks[b, i])
    torch.testing.assert_close(torch.einsum("bohw,bto->bthw", shuffled, matrices), masks)


# ------------------------------------------------------------------------------------------------- dataset


def test_items_have_the_documented_format(dataset_root: Path):
    dataset = VOSTTrainClips(dataset_root, seq_len=5, crop_size=65, short_edge=48, samples_per_epoch=6)
    assert len(dataset) == 6
    for index in range(6):
        item = dataset[index]
        assert item["images"].shape == (5, 3, 65, 65) and item["images"].dtype == torch.float32
        assert item["labels"].shape == (5, 65, 65) and item["labels"].dtype == torch.int64
        assert item["sequence"] == ("alpha", "beta")[index % 2]
        assert 1 <= item["obj_num"] <= 10
        values = set(item["labels"].unique().tolist())
        assert values <= set(range(item["obj_num"] + 1)) | {255}
        assert set(item["labels"][0].unique().tolist()) - {255} == set(range(item["obj_num"] + 1))
    with pytest.raises(IndexError):
        dataset[6]


def test_padding_reaches_the_labels_as_ignore(tmp_path: Path):
    root = write_dataset(tmp_path, {"a": [two_objects(t) for t in range(8)], "b": [two_objects(t) for t in range(8)]})
    # 40x60 frames scaled by 0.7 -> 28x42, padded to 65x65.
    dataset = VOSTTrainClips(root, seq_len=4, crop_size=65, short_edge=40, scale=(0.7, 0.7), merge_prob=0.0)
    for index in range(2):
        labels = dataset[index]["labels"]
        assert dataset[index]["obj_num"] == 1  # object 2 shrinks to about 70 px and is dropped
        for frame in labels:
            assert int((frame != 255).sum()) == 28 * 42
            rows, columns = torch.nonzero(frame != 255, as_tuple=True)
            assert int(rows.max() - rows.min()) == 27 and int(columns.max() - columns.min()) == 41


def test_merge_adds_objects_of_another_sequence(tmp_path: Path):
    left = [box_label({1: (5, 35, 2, 20)}) for _ in range(8)]
    right = [box_label({1: (5, 35, 40, 58)}) for _ in range(8)]
    root = write_dataset(tmp_path, {"left": left, "right": right})
    never = VOSTTrainClips(root, seq_len=4, crop_size=65, short_edge=40, merge_prob=0.0, samples_per_epoch=8)
    always = VOSTTrainClips(root, seq_len=4, crop_size=65, short_edge=40, merge_prob=1.0, samples_per_epoch=8)
    assert {never[i]["obj_num"] for i in range(8)} == {1}
    merged = [always[i] for i in range(8)]
    # Random flips and pads can make the pasted object hide the first one, hence "mostly 2".
    assert {item["obj_num"] for item in merged} <= {1, 2}
    assert sum(item["obj_num"] == 2 for item in merged) >= 6
    assert [item["sequence"] for item in merged] == ["left", "right"] * 4


def test_a_crop_without_objects_forces_a_merge(tmp_path: Path):
    tiny = [box_label({1: (0, 6, 0, 6)}) for _ in range(8)]  # 36 px: never kept by the crop
    big = [box_label({1: (5, 35, 20, 40)}) for _ in range(8)]
    root = write_dataset(tmp_path, {"a_tiny": tiny, "b_big": big})
    dataset = VOSTTrainClips(root, seq_len=4, crop_size=65, short_edge=40, merge_prob=0.0)
    item = dataset[0]
    assert item["sequence"] == "a_tiny" and item["obj_num"] == 1
    assert int((item["labels"][0] == 1).sum()) > 250  # 600 px scaled by at least 0.7^2


def test_items_are_reproducible_per_seed_epoch_and_index(dataset_root: Path):
    def make(seed: int = 0) -> VOSTTrainClips:
        return VOSTTrainClips(dataset_root, seq_len=5, crop_size=65, short_edge=48, seed=seed, samples_per_epoch=4)

    first, second = make(), make()
    for index in range(4):
        assert torch.equal(first[index]["images"], second[index]["images"])
        assert torch.equal(first[index]["labels"], second[index]["labels"])
    first.set_epoch(1)
    assert not torch.equal(first[0]["images"], second[0]["images"])
    second.set_epoch(1)
    assert torch.equal(first[0]["images"], second[0]["images"])
    assert not torch.equal(make(seed=1)[0]["images"], make()[0]["images"])
    # An (epoch, index) key is that epoch's item whatever epoch is selected (one loader serves many epochs).
    third = make()
    for epoch, index in ((1, 0), (0, 3), (1, 2)):
        second.set_epoch(epoch)
        assert torch.equal(third[(epoch, index)]["images"], second[index]["images"])
        assert torch.equal(third[(epoch, index)]["labels"], second[index]["labels"])
    assert third.epoch == 0


def test_worker_processes_give_the_same_batches(dataset_root: Path):
    dataset = VOSTTrainClips(dataset_root, seq_len=4, crop_size=65, short_edge=48, samples_per_epoch=6)
    dataset.set_epoch(3)
    serial = list(DataLoader(dataset, batch_size=2, num_workers=0))
    parallel = list(DataLoader(dataset, batch_size=2, num_workers=2))
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
        assert a["obj_num"].tolist() == b["obj_num"].tolist() and a["sequence"] == b["sequence"]


def test_synthetic_dataset_trains(tmp_path: Path):
    from aot_plus.data.synthetic import generate_dataset

    root = generate_dataset(tmp_path / "synthetic", videos=4, frames=40, seed=0)
    dataset = VOSTTrainClips(root, seq_len=15, crop_size=97, short_edge=96)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["images"].shape == (15, 3, 97, 97)
        assert item["obj_num"] >= 1
        assert set(item["labels"].unique().tolist()) <= set(range(item["obj_num"] + 1)) | {255}


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_layout_parts_are_named(tmp_path: Path, dataset_root: Path):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        VOSTTrainClips(tmp_path / "nowhere")
    (tmp_path / "empty" / "ImageSets").mkdir(parents=True)
    (tmp_path / "empty" / "ImageSets" / "train.txt").write_text("alpha\n")
    with pytest.raises(DatasetError, match="empty/JPEGImages: missing"):
        VOSTTrainClips(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"ImageSets/val\.txt: sequence list of split 'val' not found"):
        VOSTTrainClips(dataset_root, split="val")
    (dataset_root / "ImageSets" / "train.txt").write_text("alpha\nbeta\ngamma\n")
    with pytest.raises(DatasetError, match=r"JPEGImages/gamma: missing folder of sequence gamma"):
        VOSTTrainClips(dataset_root, seq_len=5, crop_size=65)


def test_a_missing_annotation_is_named(dataset_root: Path):
    (dataset_root / "Annotations" / "beta" / "frame0007.png").unlink()
    with pytest.raises(DatasetError, match=r"Annotations/beta/frame0007\.png: missing annotation"):
        VOSTTrainClips(dataset_root, seq_len=5, crop_size=65)


def test_an_annotation_without_image_is_named(dataset_root: Path):
    (dataset_root / "JPEGImages" / "alpha" / "frame0003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"JPEGImages/alpha/frame0003\.jpg: missing image"):
        VOSTTrainClips(dataset_root, seq_len=5, crop_size=65)


def test_a_sequence_shorter_than_a_clip_is_an_error(dataset_root: Path):
    with pytest.raises(DatasetError, match=r"Annotations/beta: 20 annotated frames, fewer than the clip length 21"):
        VOSTTrainClips(dataset_root, seq_len=21, crop_size=65)


def test_bad_settings_and_single_sequences_are_errors(tmp_path: Path, dataset_root: Path):
    with pytest.raises(ConfigError, match="16k\\+1"):
        VOSTTrainClips(dataset_root, crop_size=64)
    (dataset_root / "ImageSets" / "train.txt").write_text("alpha\n")
    with pytest.raises(DatasetError, match="needs two or more"):
        VOSTTrainClips(dataset_root, seq_len=5, crop_size=65)
    (dataset_root / "ImageSets" / "train.txt").write_text("\n")
    with pytest.raises(DatasetError, match="lists no sequence"):
        VOSTTrainClips(dataset_root, seq_len=5, crop_size=65)


def test_unreadable_or_mismatched_annotations_are_named(tmp_path: Path):
    root = write_dataset(
        tmp_path, {"alpha": [two_objects(t) for t in range(8)], "beta": [two_objects(t) for t in range(8)]}
    )
    dataset = VOSTTrainClips(root, seq_len=8, crop_size=65, short_edge=40)  # clips hold every frame
    rgb_png = root / "Annotations" / "alpha" / "frame0005.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(rgb_png)
    with pytest.raises(DatasetError, match=r"frame0005\.png: not an 8-bit index mask"):
        dataset.sample_clip(dataset.sequences[0], np.random.default_rng(0))
    save_index_png(rgb_png, np.zeros((HEIGHT, WIDTH + 1), np.uint8))
    with pytest.raises(DatasetError, match=r"frame0005\.png: label \(40, 61\) does not match"):
        dataset.sample_clip(dataset.sequences[0], np.random.default_rng(0))
    rgb_png.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"frame0005\.png: cannot be read as a PNG"):
        dataset.sample_clip(dataset.sequences[0], np.random.default_rng(0))
