"""``python -m aot_plus.train``: fine-tune an AOT-family model on a VOST-layout dataset.

Single process (CPU or one GPU) or ``torchrun --nproc_per_node N -m aot_plus.train ...``. The stage
config (``configs/stages``) and the model config can be changed with ``KEY=VALUE`` overrides:
``train.seq_len=17``, ``model.droppath=0.2``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import ConfigError, run_command
from .host import keep_freed_memory
from .training.config import load_train_config
from .training.trainer import Trainer, TrainRun
from .yaml_config import parse_overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m aot_plus.train", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="r50_deaotl", help="model config name or YAML (default r50_deaotl)")
    p.add_argument("--stage", default="pre_vost_2", help="training config in configs/stages (default pre_vost_2)")
    p.add_argument("--data-root", type=Path, default=Path("datasets/VOST"))
    p.add_argument("--out", type=Path, required=True, help="run folder: ckpt/, ema_ckpt/, log.csv, config.yaml")
    init = p.add_mutually_exclusive_group()
    init.add_argument(
        "--init", type=Path, help="full official checkpoint, e.g. pretrain_models/R50_DeAOTL_PRE_YTB_DAV.pth"
    )
    init.add_argument(
        "--encoder-init", type=Path, help="ImageNet ResNet-50, e.g. pretrain_models/resnet50-0676ba61.pth"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest readable checkpoint in --out, with the run's settings",
    )
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="with --resume: go on with settings other than the run's (each change is logged and "
        "appended to config_changes.yaml; config.yaml keeps the original)",
    )
    p.add_argument("--amp", choices=["fp16", "bf16"], help="mixed precision (fp16 uses a gradient scaler)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--no-temporal-pe", action="store_true", help="train without the RMem temporal embedding")
    for name, kind in (("steps", int), ("batch-size", int), ("workers", int), ("seed", int), ("save-every", int)):
        p.add_argument(f"--{name}", type=kind, help=f"override the stage's {name.replace('-', '_')}")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.seq_len=17 model.droppath=0.2"
    )
    args = p.parse_args(argv)
    if args.allow_config_change and not args.resume:
        p.error("--allow-config-change applies only with --resume")
    return args


def build_run(args: argparse.Namespace) -> Trainer:
    overrides = parse_overrides(args.overrides)
    unknown = sorted(set(overrides) - {"train", "model"})
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(unknown)}; valid: train, model")
    flags = {
        "total_steps": args.steps,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "seed": args.seed,
        "save_every": args.save_every,
    }
    cfg = load_train_config(args.stage, **{**flags, **overrides.get("train", {})})
    model_overrides = {**({"temporal_pe": False} if args.no_temporal_pe else {}), **overrides.get("model", {})}
    return Trainer(
        cfg,
        TrainRun(
            model=args.model,
            data_root=args.data_root,
            out_dir=args.out,
            init=args.init,
            encoder_init=args.encoder_init,
            resume=args.resume,
            amp=args.amp,
            device=args.device,
            model_overrides=model_overrides,
            allow_config_change=args.allow_config_change,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def train() -> None:
        final = build_run(args).train()
        print(f"final EMA checkpoint: {final}")

    return run_command(train)


if __name__ == "__main__":
    sys.exit(main())
