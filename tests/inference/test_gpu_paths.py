"""The paths that only run on a GPU: the CUDA graphs of the session and the on-device preprocessing.

Marked ``gpu``: skipped without CUDA (tests/conftest.py). What the graphs replay is checked on the CPU
too, with a stand-in for CUDA graphs (test_frame_graph.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aot_plus
from aot_plus.inference import preprocess_image
from aot_plus.inference.graphs import Graph, record_cuda_graph
from aot_plus.inference.runner import pinned_frame
from aot_plus.memory import RestrictedMemoryConfig
from tests.fidelity.reference import read_rgb
from tests.inference.test_inference_preprocess import TORCH_PATH_TOLERANCE
from tests.official_data import first_mask, frame_paths, load_npz

pytestmark = pytest.mark.gpu

FRAMES = 12
SMALL_BANK = RestrictedMemoryConfig(recent_frames=2)  # with gap 2: full from frame 4, evictions from 6


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return aot_plus.build_model("r50_aotl").cuda().eval()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [read_rgb(path) for path in frame_paths()[:FRAMES]]


@torch.inference_mode()
def test_graph_replay_of_the_encoder_equals_eager_bitwise(model, frames):
    inputs = [preprocess_image(frame, device="cuda") for frame in frames[:3]]
    graphed = Graph(record_cuda_graph, lambda xs: model.encode_image(xs[0]), inputs[:1], key=None)
    for t, x in enumerate(inputs):
        eager = model.encode_image(x)
        replayed = graphed([x])  # the graph's own output buffers, overwritten by the next replay
        assert len(replayed) == len(eager) == 4
        for level, (ours, theirs) in enumerate(zip(replayed, eager)):
            assert ours.shape == theirs.shape, f"frame {t}, level {level}"
            assert torch.equal(ours, theirs), (
                f"frame {t}, level {level}: max |diff| {(ours - theirs).abs().max().item()}"
            )


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_graphed_session_equals_eager_session_bitwise(model, frames, precision):
    options = {"memory": SMALL_BANK, "long_term_gap": 2, "precision": precision}
    graphed = aot_plus.InferenceSession(model, cuda_graph=True, **options)
    eager = aot_plus.InferenceSession(model, cuda_graph=False, **options)
    for session in (graphed, eager):
        session.add_reference(frames[0], first_mask())
    for t in range(1, len(frames)):
        out_g, out_e = graphed.predict(frames[t]), eager.predict(frames[t])
        assert torch.equal(out_g.logits, out_e.logits), (
            f"frame {t}: max |logit diff| {(out_g.logits - out_e.logits).abs().max().item()}"
        )
        assert torch.equal(out_g.probs, out_e.probs), f"frame {t}"
        assert graphed.frame_replayed == (t >= 5) and not eager.frame_replayed, f"frame {t}"
        graphed.update(out_e.label_tensor)  # the same label into both memories
        eager.update(out_e.label_tensor)
        assert graphed.memory_frames == eager.memory_frames, f"frame {t}"
    assert graphed.memory_frames == [0, 8, 10]


def test_device_preprocessing_matches_the_official_resized_tensor():
    case = load_npz("preproc_case.npz")
    image, expected = case["rgb_uint8"], case["input_tensor_f32"]
    x = preprocess_image(image, device="cuda")  # the on-device path: PyTorch bicubic on the GPU
    assert x.device.type == "cuda" and x.shape == (1, *expected.shape) and x.dtype == torch.float32
    diff = np.abs(x[0].cpu().numpy() - expected).max()
    assert diff < TORCH_PATH_TOLERANCE, f"max |diff| {diff}"


def test_pinned_frames_are_uploaded_to_the_same_results(model, frames):
    """The evaluation loop pins frames on its reader thread (``read_video``); uploads from pinned memory do
    not wait, and each pinned block stays in use until its copy is done, so results equal those of arrays."""
    pinned = [pinned_frame(frame) for frame in frames]
    assert all(frame.is_pinned() for frame in pinned)
    runs = []
    for images in (frames, pinned):
        session = aot_plus.InferenceSession(model, memory=SMALL_BANK, long_term_gap=2)
        session.add_reference(images[0], first_mask())
        runs.append([session.step(image).logits for image in images[1:]])
    for t, (ours, theirs) in enumerate(zip(*runs), start=1):
        assert torch.equal(ours, theirs), f"frame {t}: max |diff| {(ours - theirs).abs().max().item()}"


def test_labels_copied_to_the_host_without_waiting_equal_the_device_labels(model, frames):
    """Each prediction starts its label's copy into pinned memory; read after later frames were queued (as
    ``propagate_video`` reads them), every label is its frame's."""
    session = aot_plus.InferenceSession(model, memory=SMALL_BANK, long_term_gap=2)
    session.add_reference(frames[0], first_mask())
    predictions = [session.step(frame) for frame in frames[1:]]
    for t, prediction in enumerate(predictions, start=1):
        assert np.array_equal(prediction.label, prediction.label_tensor.cpu().numpy()), f"frame {t}"
