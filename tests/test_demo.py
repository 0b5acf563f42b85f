"""``python -m aot_plus.demo`` on tiny generated videos with the random-init AOT-T (seconds in all).

Video files are 48x64 (the mp4v codec keeps even sizes only); frame folders are 49x65 = (16*3+1) x
(16*4+1), which the network takes without a resize.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from aot_plus.checkpoints import load_model
from aot_plus.config import load_eval_config
from aot_plus.data.video import natural_key, read_object_mask
from aot_plus.demo import main
from aot_plus.errors import DatasetError
from aot_plus.inference import InferenceSession, preprocess
from evaluation.palette import save_index_png

FPS = 8
FRAMES = 12
TINY = ["--model", "aott", "--random-init", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the frames are tiny, and two OpenMP threads wait on each other whenever another
    job holds a core of a small machine (seconds instead of milliseconds per frame)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def moving_frames(size: tuple[int, int], count: int = FRAMES, seed: int = 0) -> list[np.ndarray]:
    """RGB frames: noise and a bright square moving right, and from frame 6 a second square below it."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(count):
        frame = rng.integers(0, 120, size=(*size, 3), dtype=np.uint8)
        frame[8:24, 4 + t : 20 + t] = (230, 200, 40)
        if t >= 6:
            frame[30:42, 30:42] = (40, 90, 230)
        frames.append(frame)
    return frames


def square(size: tuple[int, int], rows: slice, cols: slice, value: int = 1) -> np.ndarray:
    mask = np.zeros(size, dtype=np.uint8)
    mask[rows, cols] = value
    return mask


def write_mp4(path: Path, frames: list[np.ndarray], fps: float = FPS) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame (RGB) of a video file as OpenCV decodes it, and its fps."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[:, :, ::-1].copy())
    capture.release()
    return frames, fps


@pytest.fixture
def mp4_case(tmp_path: Path) -> tuple[Path, Path]:
    """(video, first mask): 12 frames of 48x64 at 8 fps, the square as object 1 in a palette PNG."""
    video = write_mp4(tmp_path / "clip.mp4", moving_frames((48, 64)))
    mask = tmp_path / "first.png"
    save_index_png(mask, square((48, 64), slice(8, 24), slice(4, 20)))
    return video, mask


@pytest.fixture
def folder_case(tmp_path: Path) -> tuple[Path, Path]:
    """(folder, first mask): frames f0.png ... f11.png (natural order matters from f10 on), a binary mask."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for t, frame in enumerate(moving_frames((49, 65))):
        Image.fromarray(frame).save(folder / f"f{t}.png")
    mask = tmp_path / "binary.png"
    Image.fromarray(square((49, 65), slice(8, 24), slice(4, 20), 255)).save(mask)
    return folder, mask


def run_demo(*args: str | Path) -> int:
    return main([str(a) for a in args])


def error_line(capsys: pytest.CaptureFixture) -> str:
    """The one line on stderr after the progress bars, checked to be a single ``error:`` line."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    return lines[0]


def test_video_file_masks_overlay_and_memory_log(mp4_case, tmp_path, capsys):
    video, mask = mp4_case
    out = tmp_path / "out"
    assert run_demo("--video", video, "--mask", mask, "--out", out, "--long-term-gap", "1", *TINY) == 0
    printed = capsys.readouterr()
    assert "RANDOM weights" in printed.err
    masks = sorted((out / "masks").glob("*.png"))
    assert [p.stem for p in masks] == [f"{t:05d}" for t in range(FRAMES)]
    for path in masks:
        with Image.open(path) as image:
            assert image.mode == "P" and image.size == (64, 48)
            assert set(np.unique(np.array(image))) <= {0, 1}
    assert (np.array(Image.open(masks[0])) == np.array(Image.open(mask))).all()  # the reference as given
    overlay, fps = read_video(out / "overlay.mp4")
    assert len(overlay) == FRAMES and fps == pytest.approx(FPS) and overlay[0].shape == (48, 64, 3)
    assert (out / "memory_timeline.png").read_bytes().startswith(b"\x89PNG")
    summary = (out / "summary.txt").read_text()
    assert "frames: 12" in summary and "FPS" in summary and "peak memory" in summary and summary in printed.out

    # memory.json has the --memory-log layout and holds exactly what a session on the same frames gives.
    text = (out / "memory.json").read_text()
    log = json.loads(text)
    assert text == json.dumps(log) + "\n"  # streamed, yet byte for byte what eval's write_memory_log writes
    assert log["model"] == "aott" and log["memory"]["policy"] == "restricted"
    sequence = log["sequences"]["clip"]
    assert sequence["long_term_gap"] == 1
    assert [entry["frame"] for entry in sequence["frames"]] == [f"{t:05d}" for t in range(FRAMES)]
    frames, _ = read_video(video)
    config = load_eval_config("aott", "restricted")
    model, _ = load_model(config.model, None, "cpu")
    session = InferenceSession(model, memory=config.memory, long_term_gap=1)
    expected = [session.add_reference(frames[0], read_object_mask(mask))]
    memory = [session.memory_frames]
    for frame in frames[1:]:
        expected.append(session.step(frame).label)
        memory.append(session.memory_frames)
    assert [entry["memory"] for entry in sequence["frames"]] == memory
    assert sequence["events"] == json.loads(json.dumps([event.to_dict() for event in session.memory_events]))
    assert any(event["evicted"] is not None for event in sequence["events"])  # 12 writes into 1 + 8 slots
    for event in sequence["events"]:
        assert sequence["frames"][event["frame"]]["memory"] == event["frames"]
    for path, label in zip(masks, expected):
        assert (np.array(Image.open(path)) == session.to_ids(label)).all()


def test_frame_folder_in_natural_order_with_an_object_added_later(folder_case, tmp_path, capsys):
    folder, mask = folder_case
    later = tmp_path / "second.png"
    save_index_png(later, square((49, 65), slice(30, 42), slice(30, 42), 2))
    out = tmp_path / "out"
    assert run_demo("--video", folder, "--mask", mask, "--mask", f"6:{later}", "--out", out, *TINY) == 0
    assert [p.stem for p in sorted((out / "masks").glob("*.png"), key=lambda p: natural_key(p.name))] == [
        f"f{t}" for t in range(FRAMES)
    ]
    first = np.array(Image.open(out / "masks" / "f0.png"))
    assert (first == read_object_mask(mask)).all() and set(np.unique(first)) == {0, 1}  # 255 -> object 1
    sixth = np.array(Image.open(out / "masks" / "f6.png"))
    assert (sixth[30:42, 30:42] == 2).all()  # the new object is pasted over the prediction
    assert "objects: 2 (ids 1, 2)" in capsys.readouterr().out
    sequence = json.loads((out / "memory.json").read_text())["sequences"]["shots"]
    assert 6 in [event["frame"] for event in sequence["events"]]  # a reference is always written
    assert 6 in sequence["frames"][6]["memory"]
    overlay, fps = read_video(out / "overlay.mp4")
    assert len(overlay) == FRAMES and fps == pytest.approx(10.0)  # a folder plays at 10 fps
    assert overlay[0].shape == (50, 66, 3)  # odd sizes padded for the codec


def test_flip_and_scales_reach_the_session(folder_case, tmp_path, capsys):
    folder, mask = folder_case
    out = tmp_path / "out"
    assert run_demo("--video", folder, "--mask", mask, "--out", out, "--flip", "--ms", "1", "0.6", *TINY) == 0
    # 49x65 at scale 0.6: int(29.4) = 29 -> 16 * round(1.75) + 1 = 33; int(39) = 39 -> 16 * round(2.38) + 1 = 33
    assert "processed at 65x49, 65x49, 33x33, 33x33" in capsys.readouterr().out
    frames = [np.array(Image.open(folder / f"f{t}.png")) for t in range(FRAMES)]
    config = load_eval_config("aott", "restricted")
    model, _ = load_model(config.model, None, "cpu")
    session = InferenceSession(model, memory=config.memory, long_term_gap=5, scales=(1.0, 0.6), flip=True)
    expected = [session.add_reference(frames[0], read_object_mask(mask))]
    expected += [session.step(frame).label for frame in frames[1:]]
    for t, label in enumerate(expected):
        assert (np.array(Image.open(out / "masks" / f"f{t}.png")) == session.to_ids(label)).all(), t


def test_start_end_stride_and_max_size(mp4_case, tmp_path, capsys):
    video, _ = mp4_case
    mask = tmp_path / "at2.png"
    save_index_png(mask, square((48, 64), slice(8, 24), slice(6, 22)))
    out = tmp_path / "out"
    args = ["--video", video, "--mask", mask, "--out", out, "--start", "2", "--end", "11", "--stride", "3"]
    assert run_demo(*args, "--max-size", "40", "--mask-unused-objects", *TINY) == 0
    assert sorted(p.stem for p in (out / "masks").glob("*.png")) == ["00002", "00005", "00008"]
    with Image.open(out / "masks" / "00005.png") as image:
        assert image.size == (64, 48)  # the original size, not the processing size
    overlay, fps = read_video(out / "overlay.mp4")
    assert len(overlay) == 3 and fps == pytest.approx(FPS / 3, abs=0.01)
    height, width = preprocess.test_time_size(48, 64, 40)
    assert height < 48 and f"processed at {width}x{height}" in capsys.readouterr().out
    entries = json.loads((out / "memory.json").read_text())["sequences"]["clip"]["frames"]
    assert [entry["frame"] for entry in entries] == ["00002", "00005", "00008"]


def test_an_existing_out_is_replaced_only_with_overwrite(mp4_case, tmp_path, capsys):
    video, mask = mp4_case
    out = tmp_path / "out"
    assert run_demo("--video", video, "--mask", mask, "--out", out, "--end", "3", *TINY) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert run_demo("--video", video, "--mask", mask, "--out", out, "--end", "2", *TINY) == 2
    line = error_line(capsys)
    assert str(out) in line and "--overwrite" in line
    assert len(list((out / "masks").glob("*.png"))) == 3
    assert run_demo("--video", video, "--mask", mask, "--out", out, "--end", "2", "--overwrite", *TINY) == 0
    assert len(list((out / "masks").glob("*.png"))) == 2 and (out / "notes.txt").read_text() == "mine"


def test_without_weights_one_line_says_what_to_download(mp4_case, tmp_path, capsys, monkeypatch):
    video, mask = mp4_case
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("aot_plus.demo.REPOSITORY_ROOT", tmp_path)
    assert run_demo("--video", video, "--mask", mask) == 2
    line = error_line(capsys)
    assert "aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth" in line and "pretrain_models/" in line
    assert not (tmp_path / "results").exists()
    assert run_demo("--video", video, "--mask", mask, "--model", "aott") == 2
    assert "--ckpt" in error_line(capsys)


def corrupt_mp4(path: Path) -> Path:
    """The file with the second half of its frame data overwritten: OpenCV stops reading there, short
    of the frame count the file reports."""
    data = bytearray(path.read_bytes())
    start, end = data.find(b"mdat"), data.find(b"moov")
    middle = start + (end - start) // 2
    data[middle : end - 8] = b"\xff" * (end - 8 - middle)
    path.write_bytes(bytes(data))
    return path


def bad_inputs(tmp_path: Path, mp4: Path, mask: Path) -> dict[str, tuple[list, Path, str]]:
    """Case -> (arguments, the file the error must name, a phrase of it)."""
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 10)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    empty_folder = tmp_path / "no_frames"
    empty_folder.mkdir()
    jpegs = tmp_path / "jpegs"
    jpegs.mkdir()
    for t, frame in enumerate(moving_frames((49, 65), 8)):
        Image.fromarray(frame).save(jpegs / f"{t:03d}.jpg", quality=95)
    truncated = jpegs / "005.jpg"
    truncated.write_bytes(truncated.read_bytes()[:-300])
    folder_mask = tmp_path / "folder_mask.png"
    save_index_png(folder_mask, square((49, 65), slice(8, 24), slice(4, 20)))
    blank = tmp_path / "blank.png"
    save_index_png(blank, np.zeros((48, 64), np.uint8))
    corrupt = corrupt_mp4(write_mp4(tmp_path / "corrupt.mp4", moving_frames((48, 64), 30)))
    return {
        "unreadable video": (["--video", garbage, "--mask", mask], garbage, "cannot be opened as a video"),
        "empty video": (["--video", empty, "--mask", mask], empty, "cannot be opened as a video"),
        "empty folder": (["--video", empty_folder, "--mask", mask], empty_folder, "no .jpg or .png frames"),
        "mask of another size": (["--video", mp4, "--mask", folder_mask], folder_mask, "is 65x49"),
        "mask with no object": (["--video", mp4, "--mask", blank], blank, "holds no object"),
        "later mask with no object": (["--video", mp4, "--mask", mask, "--mask", f"4:{blank}"], blank, "no object"),
        "truncated frame in a folder": (["--video", jpegs, "--mask", folder_mask], truncated, "truncated JPEG"),
        "corrupt mp4": (["--video", corrupt, "--mask", mask], corrupt, "reports 30 frames"),
        "mask on a skipped frame": (
            ["--video", mp4, "--mask", mask, "--stride", "2", "--mask", f"3:{mask}"],
            mask,
            "not segmented",
        ),
        "mask past the end": (
            ["--video", mp4, "--mask", mask, "--mask", f"40:{mask}"],
            mask,
            "last segmented frame is 11",
        ),
    }


CASES = [
    "unreadable video",
    "empty video",
    "empty folder",
    "mask of another size",
    "mask with no object",
    "later mask with no object",
    "truncated frame in a folder",
    "corrupt mp4",
    "mask on a skipped frame",
    "mask past the end",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_naming_the_file(case, mp4_case, tmp_path, capsys):
    video, mask = mp4_case
    args, named, phrase = bad_inputs(tmp_path, video, mask)[case]
    out = tmp_path / "out"
    assert run_demo(*args, "--out", out, *TINY) == 2
    line = error_line(capsys)
    assert str(named) in line and phrase in line, line


def test_masks_written_before_a_corrupt_frame_are_kept(mp4_case, tmp_path, capsys):
    video, mask = mp4_case
    args, _, _ = bad_inputs(tmp_path, video, mask)["truncated frame in a folder"]
    out = tmp_path / "out"
    assert run_demo(*args, "--out", out, *TINY) == 2
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == [f"{t:03d}.png" for t in range(5)]
    assert not (out / "overlay.mp4").exists() and not list(out.glob(".*.mp4"))  # no half-written overlay


def test_mask_formats(tmp_path):
    ids = square((6, 8), slice(1, 3), slice(1, 4), 3)
    save_index_png(tmp_path / "palette.png", ids)
    Image.fromarray(ids).save(tmp_path / "grey.png")
    Image.fromarray(np.stack([ids * 80] * 3, axis=2)).save(tmp_path / "rgb_grey.png")
    Image.fromarray((ids > 0).astype(np.uint8) * 255).save(tmp_path / "binary.png")
    Image.fromarray(ids > 0).save(tmp_path / "one_bit.png")
    assert (read_object_mask(tmp_path / "palette.png") == ids).all()
    assert (read_object_mask(tmp_path / "grey.png") == ids).all()
    assert (read_object_mask(tmp_path / "rgb_grey.png") == ids * 80).all()
    for name in ("binary.png", "one_bit.png"):
        assert (read_object_mask(tmp_path / name) == (ids > 0)).all()
    (tmp_path / "cut.png").write_bytes((tmp_path / "grey.png").read_bytes()[:-20])
    with pytest.raises(DatasetError, match="cut.png: truncated PNG"):
        read_object_mask(tmp_path / "cut.png")


def test_natural_order():
    names = ["frame10.jpg", "frame2.jpg", "Frame1.jpg", "frame002b.jpg"]
    assert sorted(names, key=natural_key) == ["Frame1.jpg", "frame2.jpg", "frame002b.jpg", "frame10.jpg"]
