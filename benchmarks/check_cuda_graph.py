"""GPU check: the CUDA-graph encoder gives the same logits and memory as the eager one.

python benchmarks/check_cuda_graph.py --frames 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import aot_plus  # noqa: E402
from benchmarks.inference import synthetic_video  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=854)
    args = p.parse_args()
    worst = 0.0
    for name in ("r50_aotl", "r50_deaotl"):
        torch.manual_seed(0)
        model = aot_plus.build_model(name).cuda()
        frames, mask = synthetic_video(args.height, args.width)
        graphed = aot_plus.InferenceSession(model, cuda_graph=True)
        eager = aot_plus.InferenceSession(model, cuda_graph=False)
        for session in (graphed, eager):
            session.add_reference(frames[0], mask)
        for t in range(1, args.frames + 1):
            out_g = graphed.predict(frames[t % len(frames)])
            out_e = eager.predict(frames[t % len(frames)])
            diff = (out_g.logits - out_e.logits).abs().max().item()
            worst = max(worst, diff)
            graphed.update(out_e.label_tensor)  # the same label into both memories
            eager.update(out_e.label_tensor)
            assert graphed.memory_frames == eager.memory_frames
        print(f"{name}: max |logit diff| graph vs eager over {args.frames} frames: {worst:.2e}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
