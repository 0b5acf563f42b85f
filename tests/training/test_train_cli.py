"""``python -m aot_plus.train`` and ``train_vost.sh`` end to end, and their one-line errors for bad input.

Runs are AOT-T (``aott``) on 33x33 crops of 3-frame clips, batch 2, on a 3-video synthetic dataset
(2 training videos with 4 annotated frames each, 1 validation video).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from aot_plus import build_model
from aot_plus.data.synthetic import generate_dataset
from aot_plus.models import ModelConfig
from aot_plus.train import main
from aot_plus.training.schedules import aux_loss_weight, learning_rate

REPO = Path(__file__).resolve().parents[2]
TINY_STAGE = dict(
    total_steps=2,
    batch_size=2,
    seq_len=3,
    max_gap=1,
    long_term_gap=1,
    crop_size=33,
    short_edge=40,
    scale=[0.9, 1.1],
    save_every=1,
    keep_checkpoints=2,
    workers=0,
)
LOG_COLUMNS = ["step", "loss", "aux_loss", "prediction_loss", "lr", "seconds"]
ANNOTATED_FRAMES = 4


def write_stage(folder: Path, **changes) -> Path:
    path = folder / "tiny_stage.yaml"
    # The official recipe with a tiny clip size, batch and step count on top (a stage file with includes).
    recipe = REPO / "configs" / "stages" / "pre_vost.yaml"
    path.write_text(yaml.safe_dump({"include": str(recipe), **TINY_STAGE, **changes}))
    return path


def subprocess_env() -> dict[str, str]:
    # One thread: the tiny tensors gain nothing from more, and threads stall on a busy 2-core machine.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run_train_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aot_plus.train", "--model", "aott", "--device", "cpu", *map(str, args)],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli_error(capsys, args: list) -> tuple[int, str]:
    """Exit status of the in-process CLI and its stderr line(s) starting with 'error:'."""
    status = main(["--model", "aott", "--device", "cpu", *map(str, args)])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return status, "\n".join(errors)


def log_rows(out: Path) -> tuple[list[str], list[dict]]:
    with (out / "log.csv").open() as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("train_cli") / "data",
        videos=3,
        frames=2 * ANNOTATED_FRAMES,
        seed=3,
        height=48,
        width=64,
    )


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_cli_trains_and_writes_checkpoints_log_and_config(data, tmp_path, capsys):
    out = tmp_path / "run"
    result = run_train_cli("--stage", write_stage(tmp_path), "--data-root", data, "--out", out)
    assert result.returncode == 0, result.stderr
    assert f"final EMA checkpoint: {out / 'ema_ckpt' / 'save_step_2.pth'}" in result.stdout
    for folder in ("ckpt", "ema_ckpt"):
        assert sorted(p.name for p in (out / folder).iterdir()) == ["save_step_1.pth", "save_step_2.pth"]
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["seq_len"] == 3

    columns, rows = log_rows(out)
    assert columns == LOG_COLUMNS
    assert [int(row["step"]) for row in rows] == [0, 1]
    for step, row in enumerate(rows):
        assert row["lr"] == f"{learning_rate(step, 2, 2e-4, 1e-5):.8f}"
        expected_loss = aux_loss_weight(step, 2) * float(row["aux_loss"]) + float(row["prediction_loss"])
        assert float(row["loss"]) == pytest.approx(expected_loss, abs=2e-6)
        assert float(row["seconds"]) > 0

    written = folder_digest(out)
    status, error = cli_error(capsys, ["--stage", write_stage(tmp_path), "--data-root", data, "--out", out])
    assert status != 0 and "--resume" in error and "\n" not in error
    assert folder_digest(out) == written
    assert (
        main(
            [
                "--model",
                "aott",
                "--device",
                "cpu",
                "--stage",
                str(write_stage(tmp_path)),
                "--data-root",
                str(data),
                "--out",
                str(out),
                "--resume",
            ]
        )
        == 0
    )
    assert [int(row["step"]) for row in log_rows(out)[1]] == [0, 1]  # already finished: nothing retrained


def test_resume_with_another_seed_or_without_a_readable_checkpoint_is_a_one_line_error(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--model", "aott", "--device", "cpu", "--stage", write_stage(tmp_path), "--data-root", data, "--out", out]
    assert main(list(map(str, args))) == 0
    written, config = folder_digest(out), (out / "config.yaml").read_bytes()

    status, error = cli_error(capsys, [*args[4:], "--resume", "--seed", "1"])
    assert status == 2 and "\n" not in error
    assert error.startswith(f"error: {out / 'config.yaml'}: ") and "train.seed: 0 -> 1" in error
    assert "--allow-config-change" in error
    assert folder_digest(out) == written

    assert main(list(map(str, [*args, "--resume", "--seed", "1", "--allow-config-change"]))) == 0
    assert (out / "config.yaml").read_bytes() == config
    assert yaml.safe_load((out / "config_changes.yaml").read_text())[0]["changes"] == {
        "train.seed": {"from": 0, "to": 1}
    }

    for path in (out / "ckpt").iterdir():
        path.write_bytes(path.read_bytes()[:100])
    status, error = cli_error(capsys, [*args[4:], "--resume", "--seed", "1"])
    assert status == 2 and "\n" not in error and "no readable checkpoint to resume from" in error


def test_allow_config_change_without_resume_is_refused(data, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--model", "aott", "--data-root", str(data), "--out", str(tmp_path / "run"), "--allow-config-change"])
    assert info.value.code == 2 and "only with --resume" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_sequences_shorter_than_the_clip_are_a_one_line_error(data, tmp_path, capsys):
    out = tmp_path / "run"
    status, error = cli_error(
        capsys, ["--stage", write_stage(tmp_path, seq_len=ANNOTATED_FRAMES + 1), "--data-root", data, "--out", out]
    )
    assert status != 0 and "\n" not in error
    assert str(data / "Annotations") in error
    assert f"{ANNOTATED_FRAMES} annotated frames, fewer than the clip length {ANNOTATED_FRAMES + 1}" in error
    assert not out.exists()


def test_missing_annotation_is_a_one_line_error_naming_the_file(data, tmp_path, capsys):
    copy = Path(shutil.copytree(data, tmp_path / "data"))
    sequence = (copy / "ImageSets" / "train.txt").read_text().split()[0]
    missing = sorted((copy / "Annotations" / sequence).glob("*.png"))[1]
    missing.unlink()
    status, error = cli_error(
        capsys, ["--stage", write_stage(tmp_path), "--data-root", copy, "--out", tmp_path / "run"]
    )
    assert status != 0 and "\n" not in error
    assert str(missing) in error and "missing annotation" in error


def test_init_checkpoint_of_another_model_is_a_one_line_error_naming_the_file(data, tmp_path, capsys):
    path = tmp_path / "R50_DeAOTL_PRE_YTB_DAV.pth"
    deaot = build_model(ModelConfig(name="deaot_t", family="deaot", encoder="mobilenetv2", num_layers=1))
    torch.save({"state_dict": deaot.state_dict()}, path)
    status, error = cli_error(
        capsys, ["--stage", write_stage(tmp_path), "--data-root", data, "--out", tmp_path / "run", "--init", path]
    )
    assert status != 0 and "\n" not in error
    assert str(path) in error and "another model" in error


def test_train_vost_sh_trains_on_the_cpu_then_evaluates_the_newest_ema_checkpoint(data, tmp_path):
    """10 steps saved at 9 and 10: the newest checkpoint is save_step_10, though '10' < '9' as text."""
    out = tmp_path / "run_dir_with_1_underscores"
    env = {
        **subprocess_env(),
        "GPUS": "0",
        "INIT": "scratch",
        "MODEL": "aott",
        "STAGE": str(write_stage(tmp_path)),
        "DATA_ROOT": str(data),
        "OUT_DIR": str(out),
    }
    result = subprocess.run(
        ["bash", str(REPO / "train_vost.sh"), "--steps", "10", "--save-every", "9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (out / "ema_ckpt").iterdir()) == ["save_step_10.pth", "save_step_9.pth"]
    assert f"loaded {out / 'ema_ckpt' / 'save_step_10.pth'} into aott" in result.stdout + result.stderr
    assert re.search(r"^J_tr / J = \d+\.\d / \d+\.\d", result.stdout, re.MULTILINE)
    val_sequence = (data / "ImageSets" / "val.txt").read_text().split()[0]
    assert len(list((out / "eval" / "val" / val_sequence).glob("*.png"))) == 2 * ANNOTATED_FRAMES
    assert (out / "eval" / "val" / "global_results-val.csv").is_file()
    assert [int(row["step"]) for row in log_rows(out)[1]] == list(range(10))


def test_torchrun_with_two_cpu_processes_trains_and_rank_0_writes_the_checkpoints(data, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "aot_plus.train",
            "--model",
            "aott",
            "--device",
            "cpu",
            "--stage",
            str(write_stage(tmp_path)),
            "--data-root",
            str(data),
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("final EMA checkpoint") == 2  # both ranks finish
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == ["save_step_1.pth", "save_step_2.pth"]
    assert [int(row["step"]) for row in log_rows(out)[1]] == [0, 1]  # one log, by rank 0
    state = torch.load(out / "ema_ckpt" / "save_step_2.pth", map_location="cpu", weights_only=True)
    assert set(state) == {"state_dict", "config"} and state["config"]["train"]["batch_size"] == 2


def test_a_full_disk_while_saving_keeps_the_last_good_checkpoint(data, tmp_path, capsys, monkeypatch):
    import errno

    from aot_plus import checkpoints

    out = tmp_path / "run"
    real_save = torch.save

    def save_until_full(obj, path, *args, **kwargs):
        if "save_step_2" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", save_until_full)
    status, error = cli_error(capsys, ["--stage", write_stage(tmp_path), "--data-root", data, "--out", out])
    assert status == 2
    assert error == f"error: {out / 'ckpt' / 'save_step_2.pth'}: cannot be written (No space left on device)"
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == ["save_step_1.pth"]  # no temporary left
    assert checkpoints.read_state_dict(out / "ckpt" / "save_step_1.pth")
