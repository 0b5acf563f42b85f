"""The VOST trainer in-process: which weights a step changes, the frozen ID bank of sequential training,
determinism, exact resume, the checkpoint layout and the three ways to initialise a model.

Every run is an AOT-T (``aott``) on 33x33 crops of 3-frame clips, batch 2, from a 5-video synthetic
dataset (4 training videos, so an epoch is 2 steps and a resume at step 1 lands mid-epoch).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import shutil
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from aot_plus import CheckpointError, build_model, load_checkpoint
from aot_plus.data.synthetic import generate_dataset
from aot_plus.errors import RunError
from aot_plus.models import ModelConfig
from aot_plus.models.layers.normalization import FrozenBatchNorm2d
from aot_plus.training.config import TrainConfig, load_train_config
from aot_plus.training.schedules import learning_rate
from aot_plus.training.sequence import SequenceTrainingStep
from aot_plus.training.trainer import Trainer, TrainRun, checkpoint_steps, initialise

MODEL = "aott"
TINY = dict(
    total_steps=2,
    batch_size=2,
    seq_len=3,
    max_gap=1,
    long_term_gap=1,
    crop_size=33,
    short_edge=40,
    scale=(0.9, 1.1),
    save_every=1,
    keep_checkpoints=1,
    workers=0,
    seed=0,
)
FROZEN_ENCODER_PREFIXES = tuple(f"encoder.features.{i}." for i in range(4))  # MobileNetV2 stem + stage 1
UNUSED_PARAMETER = "linear_KMem"  # kept for the official checkpoint layout, never used (RMEM_SPEC §8.1.10)
ID_BANK_KEYS = ("patch_wise_id_bank.weight", "patch_wise_id_bank.bias")
PE_KEYS = ("cur_pos_emb", "mem_pos_emb")


# ---------------------------------------------------------------------------------------------- helpers


def tiny_config(**changes) -> TrainConfig:
    return load_train_config("pre_vost", **{**TINY, **changes})


def make_trainer(data: Path, out: Path, cfg: TrainConfig, **run) -> Trainer:
    return Trainer(cfg, TrainRun(model=MODEL, data_root=data, out_dir=out, device="cpu", **run))


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_tensors_equal(actual: dict, expected: dict) -> None:
    assert list(actual) == list(expected)
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


def optimizer_state_by_name(optimizer_state: dict) -> dict[str, dict]:
    """AdamW state per parameter name (each param group holds one named tensor)."""
    return {
        group["name"]: optimizer_state["state"].get(group["params"][0], {}) for group in optimizer_state["param_groups"]
    }


def assert_optimizer_states_equal(actual: dict, expected: dict) -> None:
    assert actual["param_groups"] == expected["param_groups"]
    actual_state, expected_state = optimizer_state_by_name(actual), optimizer_state_by_name(expected)
    assert actual_state.keys() == expected_state.keys()
    for name, state in expected_state.items():
        assert_tensors_equal(actual_state[name], state)


def log_rows(out: Path) -> list[dict]:
    with (out / "log.csv").open() as f:
        return list(csv.DictReader(f))


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tiny tensors gain nothing from threads, and threads stall on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("trainer") / "data", videos=5, frames=8, seed=3, height=48, width=64
    )


@pytest.fixture(scope="module")
def sequential_run(data, tmp_path_factory) -> dict:
    """A 3-step run whose sequential phase starts at step 1: the initial weights and its checkpoints."""
    out = tmp_path_factory.mktemp("sequential")
    cfg = tiny_config(total_steps=3, sequential_start=0.34, keep_checkpoints=3)
    trainer = make_trainer(data, out, cfg)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    return {
        "trainer": trainer,
        "initial": initial,
        "after": {step: load(out / "ckpt" / f"save_step_{step}.pth") for step in (1, 2, 3)},
    }


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> Path:
    """2 steps with 2 data-loading worker processes, never interrupted."""
    out = tmp_path_factory.mktemp("uninterrupted")
    make_trainer(data, out, tiny_config(workers=2)).train()
    return out


# ---------------------------------------------------------------------------------------------- what a step changes


def test_one_step_changes_the_trainable_weights_and_nothing_frozen(sequential_run):
    model = sequential_run["trainer"].model
    before, after = sequential_run["initial"], sequential_run["after"][1]["state_dict"]
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n for n, _ in model.named_buffers()}
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(FROZEN_ENCODER_PREFIXES)}
    assert buffers and all(isinstance(model.get_submodule(n.rsplit(".", 1)[0]), FrozenBatchNorm2d) for n in buffers)

    for name in frozen | buffers:
        assert torch.equal(after[name], before[name]), name
    unchanged = sorted(n for n in trainable if torch.equal(after[n], before[n]))
    assert unchanged == sorted(n for n in trainable if UNUSED_PARAMETER in n) != []
    changed = trainable - set(unchanged)
    for part in (
        "LSTT.",
        "decoder.",
        "encoder.features.4.",
        "encoder_projector.",
        "patch_wise_id_bank.",
        "cur_pos_emb",
        "mem_pos_emb",
    ):
        assert any(n.startswith(part) for n in changed), part


def test_id_bank_stays_frozen_once_sequential_training_starts(sequential_run):
    initial, after = sequential_run["initial"], sequential_run["after"]
    for key in ID_BANK_KEYS:
        assert not torch.equal(after[1]["state_dict"][key], initial[key]), key  # step 0 is not sequential
        assert torch.equal(after[3]["state_dict"][key], after[1]["state_dict"][key]), key
    for key in ("LSTT.layers.0.linear_Q.weight", "decoder.conv_out.weight", "encoder_projector.weight"):
        assert not torch.equal(after[3]["state_dict"][key], after[2]["state_dict"][key]), key
        assert not torch.equal(after[2]["state_dict"][key], after[1]["state_dict"][key]), key

    optimizer = after[3]["optimizer"]
    steps_taken = {name: int(state["step"]) for name, state in optimizer_state_by_name(optimizer).items() if state}
    assert steps_taken["patch_wise_id_bank.weight"] == 1
    assert steps_taken["LSTT.layers.0.linear_Q.weight"] == 3
    groups = {group["name"]: group for group in optimizer["param_groups"]}
    assert groups["patch_wise_id_bank.weight"]["lr"] == 0.0
    assert groups["patch_wise_id_bank.weight"]["weight_decay"] == 0.0
    assert groups["LSTT.layers.0.linear_Q.weight"]["lr"] == pytest.approx(learning_rate(2, 3, 2e-4, 1e-5))
    assert groups["encoder.features.4.conv.0.0.weight"]["lr"] == pytest.approx(
        learning_rate(2, 3, 2e-4, 1e-5, encoder=True)
    )


def test_zero_aux_weight_removes_only_the_reference_frame_loss():
    """With aux weight 0 the reference frame still feeds the memories with gradients (as officially)."""
    torch.manual_seed(0)
    model = build_model(MODEL)
    step = SequenceTrainingStep(model, long_term_gap=1)
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(2, 3, 3, 33, 33, generator=generator)
    labels = torch.randint(0, 3, (2, 3, 33, 33), generator=generator)
    labels[1] = labels[1].clamp(max=1)
    obj_nums = [2, 1]

    def gradients(aux_weight: float) -> dict[str, torch.Tensor]:
        torch.manual_seed(2)  # the same DropPath draws
        model.zero_grad(set_to_none=True)
        loss = step(images, labels, obj_nums, 1.0, aux_weight, False, torch.Generator().manual_seed(3))
        loss.total.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    without_aux, negligible_aux = gradients(0.0), gradients(1e-20)
    assert without_aux.keys() == negligible_aux.keys()
    for name, grad in negligible_aux.items():
        torch.testing.assert_close(without_aux[name], grad, rtol=1e-5, atol=1e-10, msg=name)


# ---------------------------------------------------------------------------------------------- determinism and resume


def test_two_identical_runs_with_worker_processes_give_identical_weights(data, uninterrupted, tmp_path):
    make_trainer(data, tmp_path, tiny_config(workers=2)).train()
    for folder in ("ckpt", "ema_ckpt"):
        assert_tensors_equal(
            load(tmp_path / folder / "save_step_2.pth")["state_dict"],
            load(uninterrupted / folder / "save_step_2.pth")["state_dict"],
        )
    without_time = [{k: v for k, v in row.items() if k != "seconds"} for row in log_rows(tmp_path)]
    assert without_time == [{k: v for k, v in row.items() if k != "seconds"} for row in log_rows(uninterrupted)]


def test_run_killed_while_saving_then_resumed_equals_the_uninterrupted_run(data, uninterrupted, tmp_path, monkeypatch):
    """Killed while writing the step-2 checkpoint, resumed from step 1 (mid-epoch), without worker processes:
    model, EMA and optimiser end bitwise equal to the uninterrupted run's, and the log has each step once."""
    cfg = tiny_config()
    real_save = Trainer._save

    def killed_at_step_2(self, step):
        if step == 2:
            raise KeyboardInterrupt
        real_save(self, step)

    monkeypatch.setattr(Trainer, "_save", killed_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(data, tmp_path, cfg).train()
    monkeypatch.undo()
    assert checkpoint_steps(tmp_path / "ckpt") == [1]
    assert [row["step"] for row in log_rows(tmp_path)] == ["0", "1"]  # step 1 ran again after the resume

    resumed = make_trainer(data, tmp_path, cfg, resume=True)
    assert resumed.start_step == 1 and resumed.batches_per_epoch == 2
    resumed.train()

    ours, theirs = load(tmp_path / "ckpt" / "save_step_2.pth"), load(uninterrupted / "ckpt" / "save_step_2.pth")
    assert ours.keys() == theirs.keys() == {"state_dict", "optimizer", "ema", "step", "config"}
    assert_tensors_equal(ours["state_dict"], theirs["state_dict"])
    assert_tensors_equal(ours["ema"], theirs["ema"])
    assert_optimizer_states_equal(ours["optimizer"], theirs["optimizer"])
    assert_tensors_equal(
        load(tmp_path / "ema_ckpt" / "save_step_2.pth")["state_dict"],
        load(uninterrupted / "ema_ckpt" / "save_step_2.pth")["state_dict"],
    )
    rows, reference_rows = log_rows(tmp_path), log_rows(uninterrupted)
    assert [row["step"] for row in rows] == ["0", "1"]
    for row, reference in zip(rows, reference_rows):
        assert {k: row[k] for k in ("loss", "lr")} == {k: reference[k] for k in ("loss", "lr")}


def test_fp16_run_saves_its_gradient_scaler_and_resume_restores_it(data, tmp_path):
    cfg = tiny_config(total_steps=1)
    make_trainer(data, tmp_path, cfg, amp="fp16").train()
    saved = load(tmp_path / "ckpt" / "save_step_1.pth")["scaler"]
    # After one step from 2^16 the scale either grew its tracker or halved on an overflow.
    assert (saved["scale"], saved["_growth_tracker"]) in {(2.0**16, 1), (2.0**15, 0)}
    assert make_trainer(data, tmp_path, cfg, amp="fp16", resume=True).scaler.state_dict() == saved


def test_resume_without_a_checkpoint_is_refused(data, tmp_path):
    with pytest.raises(RunError, match="no checkpoint to resume from"):
        make_trainer(data, tmp_path, tiny_config(), resume=True)


# ---------------------------------------------------------------------------------------------- damaged checkpoints


@pytest.fixture(scope="module")
def two_checkpoints(data, tmp_path_factory) -> Path:
    """A finished 2-step run that kept both checkpoints (copy it before changing it)."""
    out = tmp_path_factory.mktemp("two_checkpoints")
    make_trainer(data, out, tiny_config(keep_checkpoints=2)).train()
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def damage(path: Path, how: str) -> None:
    """A checkpoint cut at half its size, emptied, or holding one NaN weight (a flipped byte or a bad copy)."""
    if how == "nan":
        state = load(path)
        state["state_dict"]["decoder.conv_out.weight"].view(-1)[7] = float("nan")
        torch.save(state, path)
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"")


@pytest.mark.parametrize("how", ["truncated", "empty", "nan"])
def test_resume_past_a_damaged_newest_checkpoint_falls_back_and_equals_the_uninterrupted_run(
    data, two_checkpoints, uninterrupted, tmp_path, caplog, how
):
    out = copy_run(two_checkpoints, tmp_path)
    bad = out / "ckpt" / "save_step_2.pth"
    damage(bad, how)
    with caplog.at_level(logging.WARNING, logger="aot_plus.training.trainer"):
        resumed = make_trainer(data, out, tiny_config(keep_checkpoints=2), resume=True)
    assert resumed.start_step == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(bad) in warnings[0] and "save_step_1.pth" in warnings[0]
    resumed.train()
    assert_tensors_equal(load(bad)["state_dict"], load(uninterrupted / "ckpt" / "save_step_2.pth")["state_dict"])
    assert [row["step"] for row in log_rows(out)] == ["0", "1"]


def test_resume_with_no_readable_checkpoint_is_one_line_naming_each_file(data, two_checkpoints, tmp_path):
    out = copy_run(two_checkpoints, tmp_path)
    damage(out / "ckpt" / "save_step_2.pth", "truncated")
    damage(out / "ckpt" / "save_step_1.pth", "empty")
    with pytest.raises(RunError, match="no readable checkpoint to resume from") as info:
        make_trainer(data, out, tiny_config(keep_checkpoints=2), resume=True)
    message = str(info.value)
    assert "\n" not in message and str(out / "ckpt") in message
    assert "save_step_2.pth" in message and "save_step_1.pth" in message


def test_init_from_a_checkpoint_with_a_nan_weight_names_the_file_and_the_key(tmp_path):
    state = build_model(MODEL).state_dict()
    state["LSTT.layers.0.linear_Q.weight"][0, 0] = float("nan")
    path = tmp_path / "diverged.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="LSTT.layers.0.linear_Q.weight") as error:
        initialise(build_model(MODEL), init_run(tmp_path, init=path))
    assert str(error.value).startswith(f"{path}: ")


# ---------------------------------------------------------------------------------------------- changed settings


def test_resume_with_other_settings_is_refused_listing_them_and_touches_nothing(data, two_checkpoints, tmp_path):
    out = copy_run(two_checkpoints, tmp_path)
    before = folder_digest(out)
    run = TrainRun(model="aots", data_root=data, out_dir=out, device="cpu", resume=True)
    with pytest.raises(RunError) as info:
        Trainer(tiny_config(keep_checkpoints=2, seed=1, batch_size=4), run)
    message = str(info.value)
    assert message.startswith(f"{out / 'config.yaml'}: ") and "\n" not in message
    for change in (
        "train.batch_size: 2 -> 4",
        "train.seed: 0 -> 1",
        "run.model: aott -> aots",
        "model.name: aott -> aots",
        "model.num_layers: 1 -> 2",
    ):
        assert change in message
    assert "--allow-config-change" in message
    assert folder_digest(out) == before


def test_allowed_change_to_a_model_the_weights_do_not_fit_is_one_line_naming_the_checkpoint(
    data, two_checkpoints, tmp_path
):
    out = copy_run(two_checkpoints, tmp_path)
    run = TrainRun(model="aots", data_root=data, out_dir=out, device="cpu", resume=True, allow_config_change=True)
    with pytest.raises(CheckpointError, match="other keys or shapes than the aots model") as info:
        Trainer(tiny_config(keep_checkpoints=2), run)
    assert str(info.value).startswith(f"{out / 'ckpt' / 'save_step_2.pth'}: ") and "\n" not in str(info.value)


def test_resume_may_change_the_workers_and_the_device_and_keeps_the_config(data, two_checkpoints, tmp_path):
    """The items are seeded per (seed, epoch, index): workers change no result; the device is the machine's."""
    out = copy_run(two_checkpoints, tmp_path)
    before = (out / "config.yaml").read_text()
    assert yaml.safe_load(before)["run"]["device"] == "cpu"
    cfg = tiny_config(keep_checkpoints=2, workers=2)
    Trainer(cfg, TrainRun(model=MODEL, data_root=data, out_dir=out, device=None, resume=True)).train()
    assert (out / "config.yaml").read_text() == before
    assert not (out / "config_changes.yaml").exists()


def test_allowed_config_change_is_logged_and_recorded_beside_the_original_config(
    data, two_checkpoints, tmp_path, caplog
):
    out = copy_run(two_checkpoints, tmp_path)
    original = (out / "config.yaml").read_text()
    cfg = tiny_config(keep_checkpoints=2, total_steps=3)
    with caplog.at_level(logging.WARNING, logger="aot_plus.training.trainer"):
        make_trainer(data, out, cfg, resume=True, allow_config_change=True).train()
    assert any("train.total_steps: 2 -> 3" in message for message in caplog.messages)
    assert (out / "config.yaml").read_text() == original
    changes = yaml.safe_load((out / "config_changes.yaml").read_text())
    assert changes == [{"resumed_from_step": 2, "changes": {"train.total_steps": {"from": 2, "to": 3}}}]
    assert load(out / "ckpt" / "save_step_3.pth")["config"]["train"]["total_steps"] == 3

    # The next resume is checked against the config with its recorded changes: the same settings need no flag.
    again = make_trainer(data, out, cfg, resume=True)
    assert again.start_step == 3
    again.train()
    assert yaml.safe_load((out / "config_changes.yaml").read_text()) == changes
    with pytest.raises(RunError, match="train.total_steps: 3 -> 2"):
        make_trainer(data, out, tiny_config(keep_checkpoints=2), resume=True)


def test_resume_of_a_run_without_config_yaml_is_accepted_with_a_warning(data, two_checkpoints, tmp_path, caplog):
    """Runs from before the config record; the settings given are recorded from then on."""
    out = copy_run(two_checkpoints, tmp_path)
    (out / "config.yaml").unlink()
    with caplog.at_level(logging.WARNING, logger="aot_plus.training.trainer"):
        make_trainer(data, out, tiny_config(keep_checkpoints=2), resume=True).train()
    assert any(str(out / "config.yaml") in message and "cannot be checked" in message for message in caplog.messages)
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["total_steps"] == 2


# ---------------------------------------------------------------------------------------------- checkpoints


def test_checkpoints_have_the_official_layout_and_load_strictly(uninterrupted):
    assert checkpoint_steps(uninterrupted / "ckpt") == [2]  # keep_checkpoints=1 pruned step 1
    assert checkpoint_steps(uninterrupted / "ema_ckpt") == [2]
    assert not [p for p in uninterrupted.rglob("*") if p.name.endswith(".tmp")]
    full, ema = load(uninterrupted / "ckpt" / "save_step_2.pth"), load(uninterrupted / "ema_ckpt" / "save_step_2.pth")
    assert full["step"] == 2 and set(full["optimizer"]) == {"state", "param_groups"}
    assert set(ema) == {"state_dict", "config"} and ema["config"] == full["config"]
    assert full["config"]["train"]["total_steps"] == 2 and full["config"]["model"]["name"] == MODEL
    for path in (uninterrupted / "ckpt" / "save_step_2.pth", uninterrupted / "ema_ckpt" / "save_step_2.pth"):
        report = load_checkpoint(build_model(MODEL), path)
        assert report.clean, path

    model = build_model(MODEL)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(full["ema"]) == trainable
    for key, value in ema["state_dict"].items():
        if key in trainable:
            assert torch.equal(value, full["ema"][key]), key
        else:
            assert torch.equal(value, full["state_dict"][key]), key
    assert not torch.equal(ema["state_dict"]["decoder.conv_out.weight"], full["state_dict"]["decoder.conv_out.weight"])


def test_config_used_is_saved_beside_the_checkpoints(uninterrupted, data):
    saved = yaml.safe_load((uninterrupted / "config.yaml").read_text())
    assert saved["train"] == tiny_config(workers=2).to_dict()
    assert saved["run"]["model"] == MODEL and saved["run"]["data_root"] == str(data)
    assert saved["model"]["encoder"] == "mobilenetv2" and saved["model"]["num_layers"] == 1


def test_fresh_run_into_a_folder_with_checkpoints_is_refused_and_touches_nothing(data, uninterrupted):
    before = folder_digest(uninterrupted)
    with pytest.raises(RunError, match="--resume"):
        make_trainer(data, uninterrupted, tiny_config(workers=2))
    assert folder_digest(uninterrupted) == before


# ---------------------------------------------------------------------------------------------- initialisation


def init_run(tmp_path: Path, **init) -> TrainRun:
    return TrainRun(model=MODEL, data_root=tmp_path, out_dir=tmp_path / "run", **init)


def test_init_from_an_original_aot_file_copies_every_weight_it_has(tmp_path):
    """A file like *_PRE_YTB_DAV.pth: 11-channel ID bank, no temporal embedding."""
    torch.manual_seed(11)
    donor = build_model(MODEL).state_dict()
    pre_rmem = {k: v for k, v in donor.items() if k not in PE_KEYS}
    pre_rmem["patch_wise_id_bank.weight"] = donor["patch_wise_id_bank.weight"][:, :11].clone()
    path = tmp_path / "AOTT_PRE_YTB_DAV.pth"
    torch.save({"state_dict": pre_rmem}, path)
    torch.manual_seed(0)
    model = build_model(MODEL)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    assert not torch.equal(initial["LSTT.layers.0.linear_Q.weight"], donor["LSTT.layers.0.linear_Q.weight"])

    initialise(model, init_run(tmp_path, init=path))
    state = model.state_dict()
    for key, value in pre_rmem.items():
        if key != "patch_wise_id_bank.weight":
            assert torch.equal(state[key], value), key
    assert torch.equal(state["patch_wise_id_bank.weight"][:, :11], pre_rmem["patch_wise_id_bank.weight"])
    assert torch.equal(state["patch_wise_id_bank.weight"][:, 11], initial["patch_wise_id_bank.weight"][:, 11])
    for key in PE_KEYS:
        assert torch.equal(state[key], initial[key]), key


def test_init_file_missing_a_minority_of_the_propagation_weights_is_accepted(tmp_path):
    """Weights a file lacks (here the AOT+ memory projections) keep their initialisation."""
    donor = build_model(MODEL).state_dict()
    lacking = ("linear_QMem", "linear_VMem", "linear_KMem", "norm4")
    path = tmp_path / "partial.pth"
    torch.save({"state_dict": {k: v for k, v in donor.items() if not any(s in k for s in lacking)}}, path)
    model = build_model(MODEL)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    initialise(model, init_run(tmp_path, init=path))
    for key, value in model.state_dict().items():
        expected = initial[key] if any(s in key for s in lacking) else donor[key]
        assert torch.equal(value, expected), key


def test_init_from_a_deaot_file_into_an_aot_model_names_the_file(tmp_path):
    deaot = build_model(ModelConfig(name="deaot_t", family="deaot", encoder="mobilenetv2", num_layers=1))
    path = tmp_path / "DeAOTT_PRE_YTB_DAV.pth"
    torch.save({"state_dict": deaot.state_dict()}, path)
    with pytest.raises(CheckpointError, match="another model") as error:
        initialise(build_model(MODEL), init_run(tmp_path, init=path))
    assert str(path) in str(error.value) and "LSTT" in str(error.value)


def test_imagenet_resnet50_file_initialises_only_the_encoder(tmp_path):
    torch.manual_seed(5)
    imagenet = {
        k: (torch.rand_like(v) + 0.5 if v.is_floating_point() else v)
        for k, v in torchvision.models.resnet50(weights=None).state_dict().items()
    }
    path = tmp_path / "resnet50-0676ba61.pth"
    torch.save(imagenet, path)
    model = build_model(ModelConfig(name="r50_tiny", encoder="resnet50", num_layers=1))
    initial = {k: v.clone() for k, v in model.state_dict().items()}

    initialise(model, init_run(tmp_path, encoder_init=path))
    state = model.state_dict()
    encoder_keys = [k for k in state if k.startswith("encoder.")]
    assert len(encoder_keys) == 215
    for key in encoder_keys:
        assert torch.equal(state[key], imagenet[key[len("encoder.") :]]), key
    for key in state:
        if not key.startswith("encoder."):
            assert torch.equal(state[key], initial[key]), key


def test_encoder_init_from_a_file_that_is_not_a_resnet_names_the_file(tmp_path):
    path = tmp_path / "not_resnet.pth"
    torch.save({"state_dict": build_model(MODEL).state_dict()}, path)
    with pytest.raises(CheckpointError, match="not a torchvision ResNet-50") as error:
        initialise(build_model(MODEL), init_run(tmp_path, encoder_init=path))
    assert str(path) in str(error.value)


@pytest.mark.parametrize(("rank", "world_size"), [(0, 1), (1, 2)])
def test_one_loader_for_the_run_yields_the_batches_of_a_loader_per_epoch(rank, world_size):
    from aot_plus.distributed import Ranks
    from aot_plus.training.trainer import _RunSampler, _StepSampler

    ranks, items, batch_per_rank, per_epoch, seed = Ranks(rank=rank, world_size=world_size), 12, 4 // world_size, 3, 5
    expected, step = [], 4  # from mid-epoch 1 to step 10: two batches of epoch 1, three of 2, one of 3
    while step < 10:
        epoch, first_batch = divmod(step, per_epoch)
        indices = _StepSampler(items, batch_per_rank, ranks, seed, epoch, first_batch).indices
        for start in range(0, len(indices), batch_per_rank):
            if step < 10:
                expected += [(epoch, index) for index in indices[start : start + batch_per_rank]]
                step += 1
    sampler = _RunSampler(items, batch_per_rank, ranks, seed, (4, 10), per_epoch)
    assert list(sampler) == expected and len(sampler) == len(expected) == 6 * batch_per_rank
    assert [epoch for epoch, _ in expected[::batch_per_rank]] == [1, 1, 2, 2, 2, 3]
