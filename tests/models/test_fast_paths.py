"""The inference-only fast paths give the official computation up to float32 rounding.

- The ResNet-50 encoder folds each FrozenBatchNorm into its convolution and runs channels-last when
  autograd is off; with autograd it runs the separate official ops.
- DeAOT's local attention gathers its window scores from one query-key product instead of the official
  ``F.unfold`` of the keys; the reference below is the unfold formula itself.
- The ID embedding of a label that uses only the first ids convolves only their one-hot channels; the
  reference is the convolution of the full official one-hot (max_objects + 1 ids and ignore).
- The decoder returns its logits in the standard layout even from channels-last features.
- A token sequence of one video becomes a grid with exact channels-last strides (still a view).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aot_plus.labels import IGNORE_ID
from aot_plus.models.encoders.resnet import ResNet50
from aot_plus.models.layers.attention import LocalGatedPropagation
from aot_plus.models.layers.basic import seq_to_2d
from aot_plus.models.layers.normalization import FrozenBatchNorm2d


@pytest.fixture(scope="module")
def encoder() -> ResNet50:
    torch.manual_seed(0)
    model = ResNet50().eval()
    with torch.no_grad():  # statistics far from the identity, so that a wrong fold shows
        for bn in model.modules():
            if isinstance(bn, FrozenBatchNorm2d):
                n = bn.weight.numel()
                bn.weight.copy_(1 + 0.2 * torch.randn(n))
                bn.bias.copy_(0.2 * torch.randn(n))
                bn.running_mean.copy_(0.2 * torch.randn(n))
                bn.running_var.copy_(0.5 + torch.rand(n))
    return model


def separate_ops(encoder: ResNet50, x: torch.Tensor) -> list[torch.Tensor]:
    """The encoder with autograd on: convolution, then BatchNorm, in the default layout."""
    with torch.enable_grad():
        return [f.detach() for f in encoder(x.clone().requires_grad_())]


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max())


def test_folded_channels_last_encoder_equals_the_separate_ops(encoder):
    x = torch.randn(1, 3, 65, 97)
    expected = separate_ops(encoder, x)
    with torch.inference_mode():
        got = encoder(x)
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(expected, got):
        assert a.shape == b.shape
        assert relative_difference(a, b) < 1e-5
    with torch.no_grad():  # plain no_grad takes the same path
        assert all(torch.equal(a, b) for a, b in zip(got, encoder(x)))


def test_the_fold_follows_new_weights(encoder):
    x = torch.randn(1, 3, 49, 65)
    with torch.inference_mode():
        before = encoder(x)[-1]
    bn = encoder.layer3[0].bn2
    saved = {k: v.clone() for k, v in encoder.state_dict().items()}
    try:
        changed = {k: v.clone() for k, v in saved.items()}
        changed["layer3.0.bn2.bias"] += 0.5
        changed["layer3.0.conv2.weight"] *= 1.5
        encoder.load_state_dict(changed)  # in-place copies into the same tensors
        with torch.inference_mode():
            after = encoder(x)[-1]
        assert relative_difference(separate_ops(encoder, x)[-1], after) < 1e-5
        assert relative_difference(before, after) > 1e-2
        assert bn.folded_into(encoder.layer3[0].conv2)[1].shape == (256,)
    finally:
        encoder.load_state_dict(saved)


def test_only_a_bias_free_convolution_folds():
    with pytest.raises(ValueError, match="bias-free"):
        FrozenBatchNorm2d(4).folded_into(torch.nn.Conv2d(3, 4, 1, bias=True))


def test_with_autograd_the_encoder_runs_the_separate_official_ops(encoder):
    x = torch.randn(1, 3, 49, 65)
    with torch.enable_grad():
        got = encoder(x.requires_grad_())
        y = encoder.maxpool(encoder.relu(encoder.bn1(encoder.conv1(x))))
        expected = []
        for stage in (encoder.layer1, encoder.layer2, encoder.layer3):
            for block in stage:
                y = separate_block(block, y)
            expected.append(y)
    assert got[0].is_contiguous() and all(torch.equal(a, b) for a, b in zip(got, expected))


def separate_block(block, x: torch.Tensor) -> torch.Tensor:
    identity = x if block.downsample is None else block.downsample[1](block.downsample[0](x))
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.relu(block.bn2(block.conv2(out)))
    return block.relu(block.bn3(block.conv3(out)) + identity)


def unfold_scores(q: torch.Tensor, k: torch.Tensor, window: int) -> torch.Tensor:
    """The official window scores: sum over channels of q times the zero-padded unfolded keys."""
    batch, channels, h, w = q.shape
    pad = window // 2
    k_windows = F.unfold(F.pad(k, (pad, pad, pad, pad)), kernel_size=window).view(batch, channels, window**2, h * w)
    return (q.reshape(batch, channels, 1, h * w) * k_windows).sum(dim=1)


def test_local_attention_scores_equal_the_unfold_formula(monkeypatch):
    torch.manual_seed(0)
    attention = LocalGatedPropagation(d_qk=32, d_vu=16, num_heads=1, max_dis=3, d_att=32).eval()
    h, w = 6, 9
    q, k = torch.randn(1, 32, h, w), torch.randn(1, 32, h, w)
    v, u = torch.randn(1, 32, h, w), torch.ones(h * w, 1, 32)
    captured = {}
    softmax = torch.softmax

    def spy(x: torch.Tensor, dim: int) -> torch.Tensor:
        captured["scores"] = x
        return softmax(x, dim)

    monkeypatch.setattr(torch, "softmax", spy)
    with torch.no_grad():
        attention(q, k, v, u, (h, w))
    outside, _ = attention._geometry(h, w, q.device)
    relative = attention.relative_emb_k(q).view(1, 1, 49, h * w)
    expected = unfold_scores(q / 32**0.5, k, 7).view(1, 1, 49, h * w) + relative
    expected = expected.masked_fill(outside, -1e8)
    torch.testing.assert_close(captured["scores"], expected, rtol=0, atol=1e-5)


def full_one_hot(label: torch.Tensor, max_objects: int) -> torch.Tensor:
    """The official one-hot by hand: ids 0..max_objects, then ignore; ignore clears the background."""
    channels = [(label == i).float() for i in range(max_objects + 1)] + [(label == IGNORE_ID).float()]
    channels[0] = channels[0] * (label != IGNORE_ID).float()
    return torch.cat(channels, dim=1)


@pytest.mark.parametrize("highest", [0, 2, 7])
def test_id_embedding_of_the_first_ids_equals_the_full_one_hot(any_model, highest):
    max_objects = any_model.cfg.max_objects
    torch.manual_seed(highest)
    label = torch.randint(0, highest + 1, (1, 1, 49, 65))
    label[..., 10:20, 30:45] = IGNORE_ID
    with torch.inference_mode():
        expected = any_model.id_embedding(full_one_hot(label, max_objects))
        one_hot = any_model.one_hot_ids(label, num_ids=highest + 1)
        got = any_model.id_embedding(one_hot)
    assert one_hot.shape[1] == highest + 2
    assert got.shape == expected.shape == (4 * 5, 1, any_model.cfg.embed_dim)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    # A wrong weight column (e.g. the ignore channel's) would move the embedding far more than rounding.
    assert (expected - any_model.id_embedding(full_one_hot(torch.zeros_like(label), max_objects))).abs().max() > 1e-3


def test_one_hot_ids_refuses_an_id_count_outside_the_bank(any_model):
    label = torch.zeros(1, 1, 17, 17, dtype=torch.long)
    for bad in (0, any_model.cfg.max_objects + 2):
        with pytest.raises(ValueError, match="num_ids must be in 1"):
            any_model.one_hot_ids(label, num_ids=bad)


def test_decoder_logits_come_in_the_standard_layout(any_model):
    torch.manual_seed(3)
    with torch.inference_mode():
        # As the ResNet-50 encoder gives them at inference.
        features = [
            f.contiguous(memory_format=torch.channels_last) for f in any_model.encode_image(torch.randn(1, 3, 65, 97))
        ]
        one_hot = full_one_hot(torch.zeros(1, 1, 65, 97, dtype=torch.long), any_model.cfg.max_objects)
        propagation = any_model.propagate(features[-1], None, None, id_emb=any_model.id_embedding(one_hot))
        logits = any_model.decode(propagation, features)
    assert logits.shape == (1, any_model.cfg.max_objects + 1, 17, 25)
    assert logits.is_contiguous()


@pytest.mark.parametrize("batch", [1, 3])
def test_token_grid_is_a_channels_last_view_with_exact_strides_for_one_video(batch):
    tokens = torch.randn(4 * 6, batch, 5)
    grid = seq_to_2d(tokens, (4, 6))
    by_hand = tokens.reshape(4, 6, batch, 5).permute(2, 3, 0, 1)
    assert torch.equal(grid, by_hand) and grid.data_ptr() == tokens.data_ptr()
    assert grid.stride() == ((4 * 6 * 5, 1, 6 * 5, 5) if batch == 1 else by_hand.stride())
