"""Object id bookkeeping (spec §5.2, §9.9), object groups, and the palette of the written masks (§5.4, §9.10)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from aot_plus.inference import ObjectIds
from aot_plus.inference.objects import group_label
from aot_plus.results import ResultsWriter
from evaluation.palette import DAVIS_PALETTE, save_index_png

DAVIS_COLOURS_0_TO_21 = [
    (0, 0, 0),
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
    (128, 128, 128),
    (64, 0, 0),
    (191, 0, 0),
    (64, 128, 0),
    (191, 128, 0),
    (64, 0, 128),
    (191, 0, 128),
    (64, 128, 128),
    (191, 128, 128),
    (0, 64, 0),
    (128, 64, 0),
    (0, 191, 0),
    (128, 191, 0),
    (0, 64, 128),
    (128, 64, 128),
]


def first_label() -> np.ndarray:
    return np.array([[0, 1, 1, 3], [0, 3, 255, 255]], dtype=np.uint8)


def test_first_label_with_ignore_pixels_gives_the_official_object_list():
    objects = ObjectIds()
    assert objects.register(first_label()) == [1, 3, 255]
    assert objects.ids == [0, 1, 3, 255]
    assert objects.num_objects == 3
    assert objects.to_indices(first_label()).tolist() == [[0, 1, 1, 2], [0, 2, 3, 3]]


def test_write_back_maps_known_indices_and_zeroes_the_rest():
    objects = ObjectIds()
    objects.register(first_label())
    indices = np.arange(11, dtype=np.uint8)
    assert objects.to_ids(indices).tolist() == [0, 1, 3, 255] + [0] * 7
    assert objects.to_ids(torch.tensor([[2, 3], [4, 10]])).tolist() == [[3, 255], [0, 0]]


def test_later_objects_are_appended_without_shifting_earlier_indices():
    objects = ObjectIds()
    objects.register(first_label())
    later = np.array([[7, 1], [2, 255]], dtype=np.uint8)
    assert objects.register(later) == [2, 7]  # new ids in sorted order, after the known ones
    assert objects.ids == [0, 1, 3, 255, 2, 7]
    assert objects.to_indices(first_label()).tolist() == [[0, 1, 1, 2], [0, 2, 3, 3]]
    assert objects.to_indices(later).tolist() == [[5, 1], [4, 3]]
    assert objects.to_ids(np.array([4, 5, 6])).tolist() == [2, 7, 0]
    assert objects.register(later) == []


def test_the_id_table_is_a_snapshot_and_the_writer_maps_labels_with_it(tmp_path):
    """PNGs are written on worker threads after later objects may have been registered: an index that no
    object had when the frame was predicted must still be written as background."""
    objects = ObjectIds()
    objects.register(first_label())  # ids 0, 1, 3, 255
    table = objects.id_table()
    assert table.dtype == np.uint8 and table.shape == (256,)
    assert table[:5].tolist() == [0, 1, 3, 255, 0] and not table[4:].any()
    objects.register(np.array([[9]], dtype=np.uint8))  # index 4 is now id 9
    assert table[4] == 0 and objects.id_table()[4] == 9
    label = np.array([[0, 1, 2], [3, 4, 4]], dtype=np.uint8)
    with ResultsWriter() as writer:
        writer.save_prediction(tmp_path / "before.png", label, table)
        writer.save_prediction(tmp_path / "after.png", label, objects.id_table())
        writer.save_prediction(tmp_path / "ids.png", np.array([[7, 8]], dtype=np.uint8))
    assert np.array(Image.open(tmp_path / "before.png")).tolist() == [[0, 1, 3], [255, 0, 0]]
    assert np.array(Image.open(tmp_path / "after.png")).tolist() == [[0, 1, 3], [255, 9, 9]]
    assert np.array(Image.open(tmp_path / "ids.png")).tolist() == [[7, 8]]
    assert objects.to_ids(label).tolist() == [[0, 1, 3], [255, 9, 9]]


def test_unregistered_ids_become_background():
    objects = ObjectIds()
    objects.register(np.array([[0, 5]], dtype=np.uint8))
    assert objects.to_indices(np.array([[5, 6, 9]], dtype=np.uint8)).tolist() == [[1, 0, 0]]


def test_group_label_renumbers_each_group_and_keeps_ignore():
    label = torch.tensor([0, 1, 10, 11, 12, 255])
    assert group_label(label, 0, 2, 10).tolist() == [0, 1, 10, 0, 0, 255]
    assert group_label(label, 1, 2, 10).tolist() == [0, 0, 0, 1, 2, 255]
    assert group_label(label, 0, 1, 10) is label


def test_palette_values():
    assert DAVIS_PALETTE.shape == (256, 3) and DAVIS_PALETTE.dtype == np.uint8
    assert DAVIS_PALETTE.size == 768
    assert [tuple(int(c) for c in row) for row in DAVIS_PALETTE[:22]] == DAVIS_COLOURS_0_TO_21
    for i in range(22, 256):
        assert DAVIS_PALETTE[i].tolist() == [i, i, i]


def test_index_png_is_palette_mode_with_exact_indices(tmp_path):
    ids = np.array([[0, 1, 2, 3], [21, 22, 254, 255]], dtype=np.uint8)
    path = tmp_path / "00001.png"
    save_index_png(path, ids)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.getpalette() == DAVIS_PALETTE.reshape(-1).tolist()
        assert np.array_equal(np.array(image), ids)
