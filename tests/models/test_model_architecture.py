"""Model construction: state-dict layout of the official checkpoints, parameter counts, feature strides.

The key lists ``tests/data/official/keys_r50_*.txt`` (tab-separated key and shape, in ``state_dict`` order)
were dumped from the official RMem models; a model that matches them key for key loads the released
checkpoints unchanged.
"""

from __future__ import annotations

import pytest
import torch

from aot_plus import available_models, build_model
from aot_plus.errors import ConfigError
from aot_plus.models import AOT, DeAOT, ModelConfig, load_model_config
from aot_plus.models.layers.normalization import FrozenBatchNorm2d
from tests.official_data import official_keys

TEMPORAL_PE_KEYS = ["cur_pos_emb", "mem_pos_emb"]
# Trainable + frozen nn.Parameters of the official models (FrozenBN statistics are buffers, not counted).
PARAMETER_COUNTS = {"r50_aotl": 15_227_595, "r50_deaotl": 19_889_518}
R50_MODELS = sorted(PARAMETER_COUNTS)


@pytest.fixture(scope="module")
def r50_models() -> dict[str, torch.nn.Module]:
    return {name: build_model(name).eval() for name in R50_MODELS}


@pytest.mark.parametrize("name", R50_MODELS)
def test_state_dict_equals_official_key_list_in_order(r50_models, name):
    ours = [(key, tuple(value.shape)) for key, value in r50_models[name].state_dict().items()]
    expected = official_keys(name)
    assert len(expected) == {"r50_aotl": 362, "r50_deaotl": 356}[name]
    assert ours == expected


@pytest.mark.parametrize("name", R50_MODELS)
def test_parameter_count(r50_models, name):
    assert sum(p.numel() for p in r50_models[name].parameters()) == PARAMETER_COUNTS[name]


@pytest.mark.parametrize("name", R50_MODELS)
def test_frozen_batchnorm_holds_four_buffers_and_no_batch_counter(r50_models, name):
    model = r50_models[name]
    frozen = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert len(frozen) == 43  # stem, 3 per bottleneck (3 + 4 + 6 of them), one per downsample branch
    for module in frozen:
        assert list(module.parameters()) == []
        assert [name for name, _ in module.named_buffers()] == ["weight", "bias", "running_mean", "running_var"]
    assert not any("num_batches_tracked" in key for key in model.state_dict())
    buffers = {name for name, _ in model.named_buffers()}
    assert len(buffers) == 172 and all(name.startswith("encoder.") for name in buffers)


def test_without_temporal_pe_exactly_the_two_embedding_keys_disappear():
    model = build_model("r50_deaotl", temporal_pe=False)
    expected = [row for row in official_keys("r50_deaotl") if row[0] not in TEMPORAL_PE_KEYS]
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == expected
    assert model.temporal_encoding() is None


def test_temporal_embedding_rows_are_current_vector_then_slots(r50_models):
    model = r50_models["r50_deaotl"]
    encoding = model.temporal_encoding()
    assert encoding.shape == (5, 128)
    assert torch.equal(encoding[0], model.cur_pos_emb[0])
    assert torch.equal(encoding[1:], model.mem_pos_emb)


def test_unknown_model_name_lists_the_available_ones():
    assert available_models() == ["aotb", "aots", "aott", "r50_aotl", "r50_deaotl"]
    with pytest.raises(ConfigError, match="unknown model 'r50_aotx'") as info:
        build_model("r50_aotx")
    for name in available_models():
        assert name in str(info.value)


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match=r"aott.yaml: unknown key\(s\) num_slots; valid: att_heads, "):
        build_model("aott", num_slots=4)


def test_the_model_class_decides_the_family():
    with pytest.raises(ValueError, match="model 'r50_aotl' is of family 'aot'; DeAOT builds 'deaot' models"):
        DeAOT(load_model_config("r50_aotl"))
    with pytest.raises(ValueError, match="family must be one of aot, deaot, got 'gpm'"):
        build_model(ModelConfig(family="gpm"))
    assert type(build_model("r50_deaotl")) is DeAOT and DeAOT.family == "deaot" and AOT.family == "aot"


def propagate_two_frames(
    model: torch.nn.Module, first: torch.Tensor, second: torch.Tensor, one_hot: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Reference pass on ``first`` with its mask, then one propagated pass on ``second``.

    Returns the features of ``second``, the ID embedding of the mask and the logits of ``second``.
    """
    ref_features = model.encode_image(first)
    id_emb = model.id_embedding(one_hot)
    ref = model.propagate(ref_features[-1], None, None, id_emb=id_emb)
    long_entries, short_memories = model.memory_entries(ref, id_emb)
    long_memories = [[field[None] for field in layer] for layer in long_entries]
    features = model.encode_image(second)
    propagation = model.propagate(features[-1], long_memories, short_memories)
    return features, id_emb, model.decode(propagation, features)


def one_hot_mask(height: int, width: int, channels: int = 12) -> torch.Tensor:
    """Background with object 1 in the top-left quarter; the ignore channel (last) is zero."""
    label = torch.zeros(height, width, dtype=torch.long)
    label[: height // 2, : width // 2] = 1
    return torch.nn.functional.one_hot(label, channels).permute(2, 0, 1)[None].float()


@pytest.mark.parametrize("name", R50_MODELS)
@torch.no_grad()
def test_r50_shapes_follow_the_16k_plus_1_stride_arithmetic(r50_models, name):
    # 65 x 97 = (16*4+1) x (16*6+1): stride-16 grid (h-1)/16+1 = 5 x 7, stride-4 grid (h-1)/4+1 = 17 x 25.
    model = r50_models[name]
    generator = torch.Generator().manual_seed(0)
    first, second = torch.randn(2, 1, 3, 65, 97, generator=generator)
    features, id_emb, logits = propagate_two_frames(model, first, second, one_hot_mask(65, 97))
    assert [tuple(f.shape[1:]) for f in features] == [(256, 17, 25), (512, 9, 13), (1024, 5, 7), (256, 5, 7)]
    assert id_emb.shape == (35, 1, 256)
    assert logits.shape == (1, 11, 17, 25)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ["aott", "aots", "aotb"])
@torch.no_grad()
def test_mobilenet_models_build_and_run(name):
    model = build_model(name).eval()
    assert model.cfg.num_layers == {"aott": 1, "aots": 2, "aotb": 3}[name]
    assert len(model.LSTT.layers) == model.cfg.num_layers
    generator = torch.Generator().manual_seed(1)
    first, second = torch.randn(2, 1, 3, 33, 49, generator=generator)
    features, id_emb, logits = propagate_two_frames(model, first, second, one_hot_mask(33, 49))
    assert [tuple(f.shape[1:]) for f in features] == [(24, 9, 13), (32, 5, 7), (96, 3, 4), (256, 3, 4)]
    assert id_emb.shape == (12, 1, 256)
    assert logits.shape == (1, 11, 9, 13)
    assert torch.isfinite(logits).all()
