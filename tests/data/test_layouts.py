"""The benchmark layout readers (DAVIS, YouTube-VOS / MOSE, long videos, LVOS), their registry and the
synthetic writers of each layout: frames read, references, written frames, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aot_plus.data.davis import davis_tasks
from aot_plus.data.longvideos import longvideo_tasks
from aot_plus.data.lvos import lvos_tasks
from aot_plus.data.protocol import VideoTask
from aot_plus.data.registry import DATASETS, TaskRequest, get_dataset
from aot_plus.data.sequences import GapRule
from aot_plus.data.synthetic import main as synthetic_main
from aot_plus.data.synthetic_layouts import generate_layout
from aot_plus.data.youtubevos import youtubevos_tasks
from aot_plus.errors import ConfigError, DatasetError
from evaluation.palette import save_index_png

SIZE = {"height": 48, "width": 64}
SETS = {
    "davis2017": {"videos": 4, "frames": 5},
    "youtubevos": {"videos": 2, "frames": 9, "step": 2},
    "longvideos": {"videos": 2, "frames": 9, "step": 2},
    "lvos": {"videos": 2, "frames": 9, "step": 2},
}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("layouts")
    return {
        layout: generate_layout(layout, base / layout, seed=1, **SIZE, **options) for layout, options in SETS.items()
    }


def copy_of(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / root.name))


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def ids(path: Path) -> set[int]:
    with Image.open(path) as image:
        return set(np.unique(np.array(image)).tolist())


# ------------------------------------------------------------------------------------ synthetic layouts
def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", list(SETS))
def test_each_layout_is_deterministic_per_seed(roots, tmp_path, layout):
    again = generate_layout(layout, tmp_path / "again", seed=1, **SIZE, **SETS[layout])
    assert file_bytes(again) == file_bytes(roots[layout])
    other = generate_layout(layout, tmp_path / "other", seed=2, **SIZE, **SETS[layout])
    assert file_bytes(other) != file_bytes(roots[layout])


def test_synthetic_command_line_writes_a_layout_and_refuses_a_foreign_folder(tmp_path, capsys):
    out = tmp_path / "LVOS"
    args = ["--out", str(out), "--layout", "lvos", "--videos", "1", "--frames", "5", "--step", "2"]
    assert synthetic_main([*args, "--height", "32", "--width", "32"]) == 0
    assert "in the lvos layout" in capsys.readouterr().out
    assert (out / "valid" / "valid" / "valid_meta.json").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    assert synthetic_main(["--out", str(tmp_path / "other"), "--layout", "davis2017", "--overwrite"]) == 2
    assert "not a davis2017-layout dataset" in capsys.readouterr().err


def test_youtubevos_layout_has_a_late_object_with_its_own_first_mask(roots):
    root = roots["youtubevos"]
    meta = json.loads((root / "valid" / "meta.json").read_text())["videos"]
    objects = meta["0000_split"]["objects"]
    late = max(objects, key=int)
    assert objects[late]["frames"][0] == "00004" and objects["1"]["frames"][0] == "00000"
    assert sorted(p.name for p in (root / "valid" / "JPEGImages" / "0000_split").iterdir()) == [
        f"{t:05d}.jpg" for t in range(0, 9, 2)
    ]
    assert len(list((root / "valid_all_frames" / "JPEGImages" / "0000_split").iterdir())) == 9
    assert ids(root / "valid" / "Annotations" / "0000_split" / "00004.png") == {0, int(late)}
    assert int(late) not in ids(root / "valid" / "Annotations" / "0000_split" / "00000.png")


def test_long_video_layout_is_single_object_and_sparse(roots):
    root = roots["longvideos"]
    for name in (root / "ImageSets" / "2017" / "val.txt").read_text().split():
        pngs = sorted((root / "Annotations" / "480p" / name).iterdir())
        assert [p.stem for p in pngs] == ["00000", "00002", "00004", "00006", "00008"]
        assert set().union(*(ids(p) for p in pngs)) <= {0, 1}


# ------------------------------------------------------------------------------------------------ DAVIS
def test_davis_reads_every_frame_from_the_first_mask(roots):
    root = roots["davis2017"]
    tasks = davis_tasks(root, "val")
    assert [t.name for t in tasks] == ["0001_cut", "0002_recolor"]
    for task in tasks:
        assert task.frame_names == [f"{t:05d}" for t in range(5)]
        assert task.references == {0: root / "Annotations" / "480p" / task.name / "00000.png"}
        assert task.written == (0, 1, 2, 3, 4) and task.long_term_gap == 5
        assert task.copy_references and not task.single_object
    (full,) = davis_tasks(root, "test", resolution="Full-Resolution")  # "test" is test-dev, as officially
    assert full.name == "0003_split_cut" and full.frames[0].parent.parent.name == "Full-Resolution"
    assert davis_tasks(root, "val", ["0002_recolor"])[0].name == "0002_recolor"


def test_davis2016_is_single_object(roots):
    tasks = davis_tasks(roots["davis2017"], "val", year=2016, single_object=True)
    assert all(task.single_object and not task.copy_references for task in tasks)
    assert set(np.unique(tasks[0].read_reference(0)).tolist()) <= {0, 1}


def test_davis_bad_inputs_are_one_line(roots, tmp_path):
    root = roots["davis2017"]
    with pytest.raises(DatasetError, match="sequence list of split 'nope' not found") as err:
        davis_tasks(root, "nope")
    assert "ImageSets/2017/nope.txt" in one_line(err)
    with pytest.raises(DatasetError, match="dataset folder not found"):
        davis_tasks(tmp_path / "absent", "val")
    with pytest.raises(DatasetError, match="does not list zzz"):
        davis_tasks(root, "val", ["zzz"])
    broken = copy_of(root, tmp_path)
    (broken / "ImageSets" / "2017" / "val.txt").write_text("0001_cut\n../escape\n")
    with pytest.raises(DatasetError, match=r"line 2: '\.\./escape' is not a sequence folder name"):
        davis_tasks(broken, "val")
    (broken / "ImageSets" / "2017" / "val.txt").write_text("0001_cut\n")
    (broken / "Annotations" / "480p" / "0001_cut" / "00000.png").unlink()
    with pytest.raises(DatasetError, match="first-frame annotation of sequence '0001_cut' not found"):
        davis_tasks(broken, "val")


def test_long_videos_read_the_davis_layout_single_object(roots):
    tasks = longvideo_tasks(roots["longvideos"], "val")
    assert len(tasks) == 2
    for task in tasks:
        assert len(task) == 9 and task.written == tuple(range(9)) and list(task.references) == [0]
        assert task.single_object and not task.copy_references


# ---------------------------------------------------------------------------------- YouTube-VOS / MOSE
def test_youtubevos_dense_reads_all_frames_and_writes_the_sparse_ones(roots):
    root = roots["youtubevos"]
    tasks = youtubevos_tasks(root, "val")  # "val" is "valid", as officially
    late, plain = tasks
    assert late.frames[0].parent.parent.parent.name == "valid_all_frames"
    assert late.frame_names == [f"{t:05d}" for t in range(9)]
    assert late.written == (0, 2, 4, 6, 8)
    assert {p: ref.name for p, ref in late.references.items()} == {0: "00000.png", 4: "00004.png"}
    assert list(plain.references) == [0] and late.copy_references and late.reference_ids == {}


def test_youtubevos_without_all_frames_reads_the_meta_frames(roots, tmp_path):
    root = copy_of(roots["youtubevos"], tmp_path)
    shutil.rmtree(root / "valid_all_frames")
    late = youtubevos_tasks(root, "valid")[0]
    assert late.frame_names == ["00000", "00002", "00004", "00006", "00008"]
    assert late.written == (0, 1, 2, 3, 4) and sorted(late.references) == [0, 2]


def test_youtubevos_bad_inputs_are_one_line(roots, tmp_path):
    root = copy_of(roots["youtubevos"], tmp_path)
    with pytest.raises(DatasetError, match="folder of split 'test' not found"):
        youtubevos_tasks(root, "test")
    meta_path = root / "valid" / "meta.json"
    meta = json.loads(meta_path.read_text())
    (root / "valid_all_frames" / "JPEGImages" / "0000_split" / "00004.jpg").unlink()
    with pytest.raises(DatasetError, match="frame 00004 of video '0000_split' .* is not among the frames read") as err:
        youtubevos_tasks(root, "valid")
    one_line(err)
    shutil.rmtree(root / "valid_all_frames")
    late = meta["videos"]["0000_split"]["objects"]["2"]
    late["frames"] = ["00003", *late["frames"]]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="lists frame 00003, but .*00003.jpg does not exist"):
        youtubevos_tasks(root, "valid")
    meta_path.write_text(json.dumps({"videos": {"../x": {"objects": {"1": {"frames": ["00000"]}}}}}))
    with pytest.raises(DatasetError, match=r"'\.\./x' is not a sequence folder name"):
        youtubevos_tasks(root, "valid")
    meta_path.write_text("{not json")
    with pytest.raises(DatasetError, match="cannot be read as JSON") as err:
        youtubevos_tasks(root, "valid")
    one_line(err)
    meta_path.unlink()
    with pytest.raises(DatasetError, match="meta.json: meta file .* not found"):
        youtubevos_tasks(root, "valid")


def test_mose_without_a_meta_file_reads_every_frame_and_every_mask(roots, tmp_path):
    root = copy_of(roots["youtubevos"], tmp_path)
    (root / "valid" / "meta.json").unlink()
    shutil.rmtree(root / "valid_all_frames")
    tasks = youtubevos_tasks(root, "valid", meta_required=False)
    assert tasks[0].written == (0, 1, 2, 3, 4) and sorted(tasks[0].references) == [0, 2]
    (root / "meta_valid.json").write_text((roots["youtubevos"] / "valid" / "meta.json").read_text())
    with_meta = get_dataset("mose").tasks(TaskRequest(root, "valid"))
    assert sorted(with_meta[0].references) == [0, 2]


# ------------------------------------------------------------------------------------------------- LVOS
def test_lvos_adds_a_later_object_from_its_start_frame_only(roots):
    root = roots["lvos"]
    late, plain = lvos_tasks(root, "val")
    assert late.frame_names == [f"{t:08d}" for t in range(9)] and late.written == tuple(range(9))
    assert sorted(late.references) == [0, 4] and late.reference_ids == {4: (2,)}
    full = np.array(Image.open(late.references[4]))
    assert set(np.unique(full).tolist()) > {0, 2}  # the start frame is fully annotated ...
    assert set(np.unique(late.read_reference(4)).tolist()) == {0, 2}  # ... but only object 2 is given
    assert list(plain.references) == [0] and late.copy_references


def test_lvos_bad_inputs_are_one_line(roots, tmp_path):
    root = copy_of(roots["lvos"], tmp_path)
    with pytest.raises(DatasetError, match="folder of split 'test' not found"):
        lvos_tasks(root, "test")
    meta_path = root / "valid" / "valid" / "valid_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["videos"]["0000_split"]["objects"]["2"]["frame_range"]["start"] = 40
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="object 2 starts on frame 40, which is not among the frames") as err:
        lvos_tasks(root, "valid")
    one_line(err)
    meta_path.unlink()
    with pytest.raises(DatasetError, match="valid_meta.json: meta file .* not found"):
        lvos_tasks(root, "valid")


# --------------------------------------------------------------------------------- registry and protocol
def test_registry_defaults_and_options():
    assert list(DATASETS) == [
        "vost",
        "davis2017",
        "davis2016",
        "youtubevos2018",
        "youtubevos2019",
        "mose",
        "lvos",
        "longvideos",
    ]
    assert all(spec.gap_rule(300) == 10 and spec.gap_rule(10) == 5 for spec in DATASETS.values())
    assert all(spec.max_size == 1040.0 for spec in DATASETS.values())
    assert {name for name, spec in DATASETS.items() if spec.single_object} == {"davis2016", "longvideos"}
    assert {name for name, spec in DATASETS.items() if spec.score is None} == {
        "youtubevos2018",
        "youtubevos2019",
        "mose",
    }
    davis = get_dataset("davis2017")
    assert davis.resolve_split("test") == "test-dev" and not davis.is_scored_here("test-dev")
    assert davis.resolve_resolution(None) == "480p" and davis.resolve_resolution("Full-Resolution")
    assert get_dataset("youtubevos2019").resolve_split(None) == "valid"
    with pytest.raises(ConfigError, match="--resolution 480p: for --dataset lvos it is not an option"):
        get_dataset("lvos").resolve_resolution("480p")
    with pytest.raises(ConfigError, match="unknown dataset 'kitti'"):
        get_dataset("kitti")
    assert get_dataset("vost").settings("val", "") == {}
    assert GapRule()(195) == 6  # banker's rounding, as the official round


def test_video_task_reads_references_as_the_protocol_says(tmp_path):
    mask = np.zeros((4, 6), np.uint8)
    mask[0, :2], mask[1, :2], mask[2, :2] = 1, 3, 255
    save_index_png(tmp_path / "a.png", mask)
    frames = tuple(tmp_path / f"{i}.jpg" for i in range(3))
    refs = {0: tmp_path / "a.png", 2: tmp_path / "a.png"}
    task = VideoTask("v", frames, refs, (0, 1, 2), 5, reference_ids={2: (3,)})
    assert np.array_equal(task.read_reference(0), mask)
    assert set(np.unique(task.read_reference(2)).tolist()) == {0, 3}
    assert task.copies_reference(0) and not task.copies_reference(2)
    single = VideoTask("v", frames, refs, (0, 1, 2), 5, copy_references=False, single_object=True)
    assert set(np.unique(single.read_reference(0)).tolist()) == {0, 1}
    with pytest.raises(ValueError, match="binarised"):
        VideoTask("v", frames, refs, (0,), 5, single_object=True)
    with pytest.raises(ValueError, match="outside the frames"):
        VideoTask("v", frames, refs, (0, 3), 5)
