"""Writes ``tests/data/official/ref_tta_<model>.npz``: the official engines under test-time augmentation.

    python scripts/official_tta_reference.py --official ../RMem/aot_plus --model r50_deaotl

The official RMem code is imported at run time from ``--official`` (never copied here) and patched from
outside to run on the CPU, as ``benchmarks/cpu_vs_official.py`` does. It runs the fidelity case's video
(``tests/data/official/synthetic_vost``, 177x241) with the deterministic weights of the fidelity README,
through the official eval transform with ``flip`` and ``ms 1.0 0.75`` (``MultiRestrictSize`` + ``MultiToTensor``)
and one official eval engine per augmentation (the first on the model, the others on deep copies), driven
as the loop of ``networks/managers/evaluator.py`` drives them: each engine predicts at the original size,
a flipped engine's logits are flipped back, the softmax probabilities are averaged, and the argmax is
written into every engine's memory (flipped for a flipped one, nearest-resized to its input). The
long-term gap is 1, so that the restricted bank overflows and evicts within a few frames.

Saved: ``labels`` (frames, H, W) uint8 (frame 0 = the given mask), ``near_tie_packed`` (bit-packed
pixels whose two largest averaged probabilities differ by less than 1e-3), ``memory`` (frames, views, 9)
int16 long-term memory frame ids after each frame (-1 padded), ``probs_sample`` (frames, 11, 16) float32
averaged probabilities at 16 fixed pixels, and ``meta`` (JSON: settings, official commit).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import benchmarks.cpu_vs_official as side_by_side  # noqa: E402
from tests.fidelity.reference import deterministic_state_dict, first_mask, frame_paths, read_rgb  # noqa: E402

SCALES = (1.0, 0.75)  # 0.75 takes the resize path and keeps the test cheap
GAP = 1
CAPACITY = 9
SAMPLE_PIXELS = np.random.default_rng(0).integers(0, [177, 241], size=(16, 2))


def official_engines(official, model_name: str, scratch: Path):
    """The official cfg (eval_vost.sh flags, flip and ms added), its model with the deterministic weights."""
    checkpoint = scratch / f"det_{model_name}.pth"
    torch.save({"state_dict": deterministic_state_dict(model_name)}, checkpoint)
    cfg = side_by_side.official_config(official, model_name, checkpoint, scratch)
    cfg.TEST_FLIP, cfg.TEST_MULTISCALE = True, list(SCALES)
    model = official.build_vos_model(cfg.MODEL_VOS, cfg)
    model, removed = official.load_network(model, cfg.TEST_CKPT_PATH, 0)
    if removed:
        raise RuntimeError(f"official load_network dropped keys: {removed}")
    return cfg, model.eval()


def run(official, model_name: str, frames: int) -> dict[str, np.ndarray]:
    flip_tensor = importlib.import_module("utils.image").flip_tensor
    tr = official.transforms
    with tempfile.TemporaryDirectory() as scratch:
        cfg, model = official_engines(official, model_name, Path(scratch))
    transforms = [
        tr.MultiRestrictSize(cfg.TEST_MIN_SIZE, cfg.TEST_MAX_SIZE, True, list(SCALES), cfg.MODEL_ALIGN_CORNERS),
        tr.MultiToTensor(),
    ]
    mask = first_mask()
    height, width = mask.shape
    engines, labels, ties, memory, sampled = [], [mask], [np.zeros_like(mask, bool)], [], []
    for t, path in enumerate(frame_paths()[:frames]):
        sample = {"current_img": read_rgb(path).astype(np.float32), "meta": {"flip": False}}
        if t == 0:
            sample["current_label"] = mask
        for transform in transforms:
            sample = transform(sample)
        views = [{k: v if k == "meta" else v.unsqueeze(0) for k, v in view.items()} for view in sample]
        probs = []
        for i, view in enumerate(views):
            if len(engines) <= i:
                engine = official.build_engine(
                    cfg.MODEL_ENGINE,
                    phase="eval",
                    aot_model=model if i == 0 else copy.deepcopy(model),
                    gpu_id=0,
                    long_term_mem_gap=GAP,
                )
                engines.append(engine.eval())
            engine = engines[i]
            engine.long_term_mem_gap = GAP
            image = view["current_img"]
            if t == 0:
                label = F.interpolate(view["current_label"].float(), size=image.shape[2:], mode="nearest").int()
                engine.add_reference_frame(image, label, frame_step=0, obj_nums=[int(mask.max())])
                continue
            logits = engine.match_propogate_one_frame(image, output_size=(height, width))
            if view["meta"]["flip"]:
                logits = flip_tensor(logits, 3)
            probs.append(torch.softmax(logits, dim=1))
        if t > 0:
            prob = torch.mean(torch.cat(probs, dim=0), dim=0, keepdim=True)
            label = torch.argmax(prob, dim=1, keepdim=True).float()
            mirrored = flip_tensor(label, 3)
            for engine, view in zip(engines, views):
                written = mirrored if view["meta"]["flip"] else label
                engine.update_memory(F.interpolate(written, size=engine.input_size_2d, mode="nearest"))
            top2 = prob[0].topk(2, dim=0).values
            labels.append(label[0, 0].numpy().astype(np.uint8))
            ties.append(((top2[0] - top2[1]) < 1e-3).numpy())
            sampled.append(prob[0][:, SAMPLE_PIXELS[:, 0], SAMPLE_PIXELS[:, 1]].numpy())
        else:
            sampled.append(np.zeros((11, len(SAMPLE_PIXELS)), np.float32))
        ids = [[int(i) for i in e.aot_engines[0].long_memories_indexes] for e in engines]
        memory.append([row + [-1] * (CAPACITY - len(row)) for row in ids])
        print(f"frame {t}: memory of each view {ids}", flush=True)
    return {
        "labels": np.stack(labels),
        "near_tie_packed": np.packbits(np.stack(ties)),
        "memory": np.array(memory, np.int16),
        "probs_sample": np.stack(sampled).astype(np.float32),
        "sample_pixels": SAMPLE_PIXELS.astype(np.int16),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", type=Path, required=True, help="the official checkout's aot_plus folder")
    p.add_argument("--model", default="r50_deaotl", choices=["r50_deaotl", "r50_aotl"])
    p.add_argument("--frames", type=int, default=11, help="frames of the video (the bank overflows from 10 on)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    side_by_side.patch_torch_for_cpu()
    side_by_side.quiet_official_warnings()
    official = side_by_side.import_official(args.official)
    with torch.no_grad():
        arrays = run(official, args.model, args.frames)
    meta = {
        "official_commit": "431cde1846cc78d594c83aa00901981e3e0a7487",
        "model": args.model,
        "scales": list(SCALES),
        "flip": True,
        "long_term_gap": GAP,
        "frames": args.frames,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    out = REPO / "tests" / "data" / "official" / f"ref_tta_{args.model}.npz"
    np.savez_compressed(out, meta=np.array(json.dumps(meta)), **arrays)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
