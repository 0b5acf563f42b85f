"""Label agreement and |delta J| between two results folders of the same VOST-layout split (say fp32 vs bf16).

    python benchmarks/precision_agreement.py results/fp32 results/bf16 --dataset-root datasets/SynthVOST \\
        --json benchmarks/results/precision_agreement.json

Agreement is the share of pixels with the same id over every predicted PNG (the reference frames, copies
of the ground truth, are left out); J and J_tr come from the VOST scorer (``aot_plus.scoring``), which
writes its CSVs into each folder. The targets of issue 11 are >= 99% agreement and |delta J| <= 0.3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aot_plus.scoring import score_results  # noqa: E402


def predicted_pngs(folder: Path) -> dict[str, Path]:
    """``sequence/frame.png`` -> path, without each sequence's first (reference) frame."""
    pngs = {}
    for sequence in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(sequence.glob("*.png"))[1:]:
            pngs[f"{sequence.name}/{path.name}"] = path
    return pngs


def label_agreement(a: Path, b: Path) -> float:
    first, second = predicted_pngs(a), predicted_pngs(b)
    if first.keys() != second.keys():
        missing = sorted(first.keys() ^ second.keys())
        raise SystemExit(f"error: the folders hold different PNGs, e.g. {missing[0]}")
    same = total = 0
    for name, path in first.items():
        x, y = np.array(Image.open(path)), np.array(Image.open(second[name]))
        same += int((x == y).sum())
        total += x.size
    return same / total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference", type=Path, help="results folder of the reference run (fp32)")
    p.add_argument("other", type=Path, help="results folder of the run compared with it")
    p.add_argument("--dataset-root", type=Path, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    agreement = label_agreement(args.reference, args.other)
    scores = [score_results(folder, args.dataset_root, args.split) for folder in (args.reference, args.other)]
    row = {
        "reference": str(args.reference),
        "other": str(args.other),
        "label_agreement": agreement,
        "J": [100 * s.j for s in scores],
        "J_tr": [100 * s.j_tr for s in scores],
        "delta_J": 100 * (scores[1].j - scores[0].j),
        "delta_J_tr": 100 * (scores[1].j_tr - scores[0].j_tr),
    }
    print(
        f"label agreement {100 * agreement:.3f}%; J {row['J'][0]:.2f} -> {row['J'][1]:.2f} "
        f"(delta {row['delta_J']:+.2f}); J_tr {row['J_tr'][0]:.2f} -> {row['J_tr'][1]:.2f} "
        f"(delta {row['delta_J_tr']:+.2f})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(row, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
