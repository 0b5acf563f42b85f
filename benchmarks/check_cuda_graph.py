"""GPU check: the session's CUDA graphs (the encoder while the bank fills, then the whole frame) give the
same logits and memory as eager inference, for both R50 models with RMem, in fp32 and bf16.

python benchmarks/check_cuda_graph.py --frames 60

Both sessions write the eager session's labels, so that one differing pixel cannot send the two videos
apart; the restricted bank (1 + 8 frames, gap 5) is full from frame 40 on, so the default 60 frames
replay the frame graph 20 times, through four evictions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import aot_plus  # noqa: E402
from benchmarks.inference import synthetic_video  # noqa: E402

TOLERANCE = {"fp32": 1e-4, "bf16": 5e-2}
"""Largest |logit difference| accepted between the graphed and the eager session."""


def check(name: str, precision: str, frames: int, height: int, width: int) -> bool:
    torch.manual_seed(0)
    model = aot_plus.build_model(name).cuda()
    video, mask = synthetic_video(height, width)
    graphed = aot_plus.InferenceSession(model, cuda_graph=True, precision=precision)
    eager = aot_plus.InferenceSession(model, cuda_graph=False, precision=precision)
    for session in (graphed, eager):
        session.add_reference(video[0], mask)
    worst, replayed_frames, same_memory = 0.0, 0, True
    for t in range(1, frames + 1):
        out_g = graphed.predict(video[t % len(video)])
        out_e = eager.predict(video[t % len(video)])
        worst = max(worst, (out_g.logits - out_e.logits).abs().max().item())
        replayed_frames += graphed.frame_replayed
        graphed.update(out_e.label_tensor)
        eager.update(out_e.label_tensor)
        same_memory &= graphed.memory_frames == eager.memory_frames
    ok = worst <= TOLERANCE[precision] and same_memory and replayed_frames > 0
    print(
        f"{name} {precision}: max |logit diff| graphed vs eager over {frames} frames {worst:.2e} "
        f"(tolerance {TOLERANCE[precision]:.0e}); frame graph replayed on {replayed_frames} frames; "
        f"memory frames {'equal' if same_memory else 'DIFFER'}: {graphed.memory_frames} -> {'ok' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=854)
    args = p.parse_args()
    results = [
        check(name, precision, args.frames, args.height, args.width)
        for name in ("r50_aotl", "r50_deaotl")
        for precision in ("fp32", "bf16")
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
