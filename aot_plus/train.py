"""``python -m aot_plus.train``: fine-tune an AOT-family model on a VOST-layout dataset.

Single process (CPU or one GPU) or ``torchrun --nproc_per_node N -m aot_plus.train ...``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .checkpoints import CheckpointError
from .distributed import DeviceError
from .training.config import load_train_config
from .training.trainer import Trainer, TrainRun


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m aot_plus.train", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="r50_deaotl", help="model config name or YAML (default r50_deaotl)")
    p.add_argument("--stage", default="pre_vost_2", help="training config in configs/stages (default pre_vost_2)")
    p.add_argument("--data-root", type=Path, default=Path("datasets/VOST"))
    p.add_argument("--out", type=Path, required=True, help="run folder: ckpt/, ema_ckpt/, log.csv, config.yaml")
    init = p.add_mutually_exclusive_group()
    init.add_argument("--init", type=Path, help="full official checkpoint, e.g. pretrain_models/R50_DeAOTL_PRE_YTB_DAV.pth")
    init.add_argument("--encoder-init", type=Path, help="ImageNet ResNet-50, e.g. pretrain_models/resnet50-0676ba61.pth")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--amp", choices=["fp16", "bf16"], help="mixed precision (fp16 uses a gradient scaler)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--no-temporal-pe", action="store_true", help="train without the RMem temporal embedding")
    for name, kind in (("steps", int), ("batch-size", int), ("workers", int), ("seed", int), ("save-every", int)):
        p.add_argument(f"--{name}", type=kind, help=f"override the stage's {name.replace('-', '_')}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = load_train_config(args.stage, total_steps=args.steps, batch_size=args.batch_size,
                                workers=args.workers, seed=args.seed, save_every=args.save_every)
        run = TrainRun(model=args.model, data_root=args.data_root, out_dir=args.out, init=args.init,
                       encoder_init=args.encoder_init, resume=args.resume, amp=args.amp, device=args.device,
                       temporal_pe=not args.no_temporal_pe)
        final = Trainer(cfg, run).train()
    except (CheckpointError, DeviceError, OSError, ValueError) as exc:   # bad input: files, dataset, config, device
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"final EMA checkpoint: {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
