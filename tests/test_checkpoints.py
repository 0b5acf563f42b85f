"""The checkpoint loader: official layouts, the pre-RMem adaptation, strictness and every refusal."""

from __future__ import annotations

import copy
import os
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from aot_plus import CheckpointError, build_model, load_checkpoint, save_checkpoint
from aot_plus.checkpoints import read_state_dict
from tests.official_data import official_keys

ID_BANK = "patch_wise_id_bank.weight"
PE_KEYS = ["cur_pos_emb", "mem_pos_emb"]


@pytest.fixture(scope="module")
def initial_model() -> torch.nn.Module:
    return build_model("r50_aotl")


@pytest.fixture
def model(initial_model) -> torch.nn.Module:
    """A fresh copy of the freshly initialised R50-AOTL (loading changes it)."""
    return copy.deepcopy(initial_model)


@pytest.fixture(scope="module")
def trained_state(initial_model) -> dict[str, torch.Tensor]:
    """A state dict with the model's keys and shapes and values unlike the initialisation."""
    generator = torch.Generator().manual_seed(7)
    return {k: torch.randn(v.shape, generator=generator) for k, v in initial_model.state_dict().items()}


def assert_state_equal(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def official_deaot_state() -> dict[str, torch.Tensor]:
    """Zeros in the exact key/shape layout of the official R50-DeAOTL state dict."""
    return {key: torch.zeros(shape) for key, shape in official_keys("r50_deaotl")}


def test_save_then_load_round_trips_bitwise(model, trained_state, tmp_path):
    source = copy.deepcopy(model)
    source.load_state_dict(trained_state)
    path = tmp_path / "save_step_500.pth"
    save_checkpoint(source, path, step=500)
    assert sorted(torch.load(path, weights_only=True)) == ["state_dict", "step"]
    assert [p.name for p in tmp_path.iterdir()] == ["save_step_500.pth"]  # no temporary left behind
    report = load_checkpoint(model, path)
    assert report.clean and report.summary() == "all keys matched"
    assert_state_equal(model, trained_state)


@pytest.mark.parametrize("layout", ["state_dict", "model", "bare", "module_prefix", "module_prefix_in_state_dict"])
def test_every_official_layout_loads(model, trained_state, tmp_path, layout):
    prefixed = {f"module.{k}": v for k, v in trained_state.items()}
    content = {
        "state_dict": {"state_dict": trained_state, "optimizer": {"step": 3}},
        "model": {"model": trained_state},
        "bare": trained_state,
        "module_prefix": prefixed,
        "module_prefix_in_state_dict": {"state_dict": prefixed},
    }[layout]
    path = tmp_path / f"{layout}.pth"
    torch.save(content, path)
    assert load_checkpoint(model, path).clean
    assert_state_equal(model, trained_state)


def test_original_aot_file_adapts_the_id_bank_and_keeps_the_embedding(model, trained_state, tmp_path):
    init = {k: v.clone() for k, v in model.state_dict().items()}
    original = {k: v for k, v in trained_state.items() if k not in PE_KEYS}
    original[ID_BANK] = trained_state[ID_BANK][:, :11].clone()  # 11 input channels, no ignore channel
    path = tmp_path / "R50_AOTL_PRE_YTB_DAV.pth"
    torch.save({"state_dict": original}, path)

    report = load_checkpoint(model, path)  # strict

    assert report.adapted == [ID_BANK]
    assert report.missing == PE_KEYS
    assert report.unexpected == [] and report.mismatched == []
    assert not report.clean and "adapted: patch_wise_id_bank.weight" in report.summary()
    state = model.state_dict()
    assert torch.equal(state[ID_BANK][:, :11], original[ID_BANK])
    assert torch.equal(state[ID_BANK][:, 11], init[ID_BANK][:, 11])
    for key in PE_KEYS:
        assert torch.equal(state[key], init[key])
    for key in original:
        if key != ID_BANK:
            assert torch.equal(state[key], original[key]), key


def test_file_without_embedding_for_an_embedding_model_asks_for_temporal_pe_false(model, trained_state, tmp_path):
    vanilla = {k: v for k, v in trained_state.items() if k not in PE_KEYS}  # 12-channel ID bank: not pre-RMem
    path = tmp_path / "vanilla_aotplus.pth"
    torch.save({"state_dict": vanilla}, path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, path)
    message = str(info.value)
    assert str(path) in message and "temporal_pe=False" in message
    assert "missing: cur_pos_emb, mem_pos_emb" in message
    assert_state_equal(model, before)  # a refused file changes nothing

    without_pe = build_model("r50_aotl", temporal_pe=False)
    assert load_checkpoint(without_pe, path).clean
    assert_state_equal(without_pe, vanilla)


def test_deaot_file_into_aot_names_the_file_the_family_and_the_keys(model, tmp_path):
    path = tmp_path / "aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth"
    torch.save({"state_dict": official_deaot_state()}, path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, path)
    message = str(info.value)
    assert message.startswith(f"{path}: does not match AOT (the file holds a DeAOT model)")
    assert "missing: LSTT.layers.0.self_attn.linear_Q.weight" in message
    assert "unexpected: LSTT.layers.0.linear_QV.weight" in message
    assert "mismatched: cur_pos_emb (1, 128) vs (1, 256)" in message
    assert_state_equal(model, before)


def test_shape_mismatch_raises_when_strict_and_is_skipped_when_partial(model, trained_state, tmp_path):
    init = {k: v.clone() for k, v in model.state_dict().items()}
    state = dict(trained_state)
    state["decoder.conv_out.weight"] = torch.zeros(5, 128, 1, 1)
    path = tmp_path / "five_ids.pth"
    torch.save(state, path)

    with pytest.raises(
        CheckpointError,
        match=r"mismatched: decoder\.conv_out\.weight \(5, 128, 1, 1\) vs "
        r"\(11, 128, 1, 1\)",
    ) as info:
        load_checkpoint(model, path)
    assert str(path) in str(info.value)

    report = load_checkpoint(model, path, allow_partial=True)
    assert report.mismatched == ["decoder.conv_out.weight (5, 128, 1, 1) vs (11, 128, 1, 1)"]
    assert report.missing == [] and report.unexpected == [] and report.adapted == []
    loaded = model.state_dict()
    assert torch.equal(loaded["decoder.conv_out.weight"], init["decoder.conv_out.weight"])
    for key in state:
        if key != "decoder.conv_out.weight":
            assert torch.equal(loaded[key], trained_state[key]), key


def test_partial_load_keeps_missing_keys_and_ignores_unexpected_ones(model, trained_state, tmp_path):
    init = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: v for k, v in trained_state.items() if not k.startswith("decoder.")}
    state["layer4.0.conv1.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="unexpected: layer4.0.conv1.weight"):
        load_checkpoint(model, path)
    report = load_checkpoint(model, path, allow_partial=True)
    assert report.unexpected == ["layer4.0.conv1.weight"]
    assert report.missing == [k for k in init if k.startswith("decoder.")] and len(report.missing) == 24
    loaded = model.state_dict()
    for key in init:
        assert torch.equal(loaded[key], init[key] if key.startswith("decoder.") else trained_state[key]), key


@pytest.mark.parametrize(
    "kept, reason", [(0.0, "empty file"), (0.5, "not a readable PyTorch checkpoint")], ids=["empty", "cut_at_half"]
)
def test_truncated_file_is_refused_in_one_line_with_its_name(model, tmp_path, kept, reason):
    path = tmp_path / "save_step_1000.pth"
    save_checkpoint(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(CheckpointError, match=reason) as info:
        load_checkpoint(model, path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def overwrite_float(path: Path, values: torch.Tensor, index: int, new_value: float) -> int:
    """Overwrites ``values[index]`` inside the raw data of a saved file, as a bad disk or copy would;
    returns how many bytes changed. ``values`` must occur once in the file."""
    data = bytearray(path.read_bytes())
    raw = values.numpy().tobytes()
    assert data.count(raw) == 1
    start = data.find(raw) + index * values.element_size()
    old = bytes(data[start : start + 4])
    data[start : start + 4] = struct.pack("<f", new_value)
    path.write_bytes(bytes(data))
    return sum(a != b for a, b in zip(old, data[start : start + 4]))


@pytest.mark.parametrize("value, new_value", [(1.5, float("nan")), (1.0, float("inf"))], ids=["nan", "inf"])
def test_one_overwritten_byte_that_makes_a_weight_non_finite_is_refused(
    model, trained_state, tmp_path, value, new_value
):
    """torch does not check the zip's CRC: one flipped byte loads silently as a NaN or Inf weight."""
    key = "decoder.conv_out.bias"
    state = dict(trained_state)
    state[key] = torch.tensor([0.25, -3.0, value, 2.5] + [0.5] * (len(state[key]) - 4))
    path = tmp_path / "save_step_20000.pth"
    torch.save({"state_dict": state}, path)
    assert overwrite_float(path, state[key], 2, new_value) == 1
    assert not torch.isfinite(torch.load(path, weights_only=True)["state_dict"][key]).all()  # torch reads it

    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert f"1 of {len(state)} floating tensors" in message and f"first {key}" in message
    assert_state_equal(model, before)
    with pytest.raises(CheckpointError, match=key):
        read_state_dict(path)


def test_one_overwritten_byte_in_the_pickled_structure_is_a_one_line_refusal(tmp_path):
    path = tmp_path / "flipped.pth"
    torch.save({"state_dict": {"weight_a": torch.ones(2)}}, path)
    data = path.read_bytes()
    assert data.count(b"weight_a") == 1
    path.write_bytes(data.replace(b"weight_a", b"\x85eight_a"))  # no longer UTF-8: the unpickler fails
    with pytest.raises(CheckpointError, match="corrupt PyTorch checkpoint") as info:
        read_state_dict(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_every_non_finite_tensor_is_counted_and_the_first_one_named(tmp_path):
    state = {
        "a": torch.ones(2),
        "b": torch.tensor([1.0, float("-inf")]),
        "steps": torch.tensor(3),
        "c": torch.tensor([float("nan")], dtype=torch.float16),
        "d": torch.zeros(4, dtype=torch.bfloat16),
    }
    path = tmp_path / "diverged.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"2 of 4 floating tensors hold NaN or Inf values \(first b\)"):
        read_state_dict(path)


@pytest.mark.parametrize(
    "content",
    [[1, 2, 3], {"epoch": "3", "note": "final"}, {}, {"state_dict": [1.0]}],
    ids=["list", "dict_of_strings", "empty_dict", "list_under_state_dict"],
)
def test_pickle_that_is_not_a_state_dict_is_refused(model, tmp_path, content):
    path = tmp_path / "not_weights.pth"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match="not a model state dict") as info:
        load_checkpoint(model, path)
    assert str(info.value).startswith(str(path))


def test_missing_file_raises_file_not_found_with_its_name(model, tmp_path):
    path = tmp_path / "nowhere" / "ckpt.pth"
    with pytest.raises(CheckpointError, match="ckpt.pth: checkpoint not found") as info:
        load_checkpoint(model, path)
    assert str(path) in str(info.value)


def retag_storages(path: Path, location: str) -> None:
    """Rewrites a saved file so that its tensors claim to live on ``location`` (as if saved there)."""
    with zipfile.ZipFile(path) as src:
        records = [(info.filename, src.read(info)) for info in src.infolist()]
    cpu_tag = b"X\x03\x00\x00\x00cpu"  # the pickled location string (memoised: written once)
    new_tag = b"X" + len(location).to_bytes(4, "little") + location.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name, data in records:
            if name.endswith("/data.pkl"):
                assert data.count(cpu_tag) == 1
                data = data.replace(cpu_tag, new_tag)
            dst.writestr(name, data)


def test_gpu_saved_file_loads_onto_the_model_device(model, trained_state, tmp_path):
    path = tmp_path / "saved_on_gpu7.pth"
    torch.save({"state_dict": trained_state}, path)
    retag_storages(path, "cuda:7")  # as written by the 8th GPU of a training machine
    if torch.cuda.device_count() < 8:
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # the file really asks for that GPU
    assert load_checkpoint(model, path).clean
    assert all(v.device.type == "cpu" for v in model.state_dict().values())
    assert_state_equal(model, trained_state)


def test_loader_reads_with_weights_only_on_the_model_device(model, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pth"
    save_checkpoint(model, path)
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    load_checkpoint(model, path)
    assert len(calls) == 1
    assert calls[0]["weights_only"] is True
    assert torch.device(calls[0]["map_location"]) == torch.device("cpu")


class _CreatesADirectoryWhenUnpickled:
    """A pickle payload: unpickling it calls ``os.mkdir(target)``."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.mkdir, (str(self.target),)


def test_arbitrary_objects_in_the_pickle_are_refused_not_executed(model, trained_state, tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "hostile.pth"
    torch.save({"state_dict": trained_state, "extra": _CreatesADirectoryWhenUnpickled(marker)}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(model, path)
    assert str(info.value).startswith(str(path))
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is real: a full unpickle runs it
    assert marker.is_dir()


def test_read_state_dict_strips_module_prefix_only_at_the_start(tmp_path):
    path = tmp_path / "prefixed.pth"
    torch.save({"module.a.module.b": torch.ones(1), "c": torch.zeros(2)}, path)
    state = read_state_dict(path)
    assert list(state) == ["a.module.b", "c"]


def test_one_channel_short_tensor_other_than_the_id_bank_is_a_mismatch(model, trained_state, tmp_path):
    state = dict(trained_state)
    state["decoder.conv_out.weight"] = state["decoder.conv_out.weight"][:, :-1].clone()
    path = tmp_path / "short.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="decoder.conv_out.weight"):
        load_checkpoint(model, path)


def test_build_model_applies_overrides_to_a_config_object():
    from aot_plus.models import ModelConfig

    model = build_model(ModelConfig(encoder="mobilenetv2", num_layers=1), temporal_pe=False)
    assert model.cfg.temporal_pe is False and "cur_pos_emb" not in model.state_dict()
