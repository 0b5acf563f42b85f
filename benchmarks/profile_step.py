"""Profile a few ``InferenceSession.step`` calls: where the time goes (CPU launch vs device kernels).

python benchmarks/profile_step.py --model r50_deaotl --height 480 --width 854
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
    p.add_argument("--model", default="r50_deaotl")
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=854)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--rows", type=int, default=25)
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = aot_plus.build_model(args.model).to(device)
    frames, mask = synthetic_video(args.height, args.width)
    session = aot_plus.InferenceSession(model, precision=args.precision)
    session.add_reference(frames[0], mask)
    for t in range(1, 12):
        _ = session.step(frames[t % len(frames)]).label  # the label copy to the host, as the evaluation
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for t in range(args.frames):
            _ = session.step(frames[t % len(frames)]).label
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
