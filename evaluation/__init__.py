"""Standalone VOS evaluation, numerically identical to the official code: VOST (J and J_tr, optionally F),
and DAVIS 2017 / DAVIS 2016 / sparse long videos (J, F, J&F) as the DAVIS 2017 toolkit.

It needs numpy, pandas, pillow and tqdm, and never imports torch. Python use::

    from evaluation import evaluate, save_tables, csv_paths
    global_table, per_sequence_table = evaluate("results/my_method", "datasets/VOST", split="val")
    global_table, per_sequence_table = evaluate("results/davis", "datasets/DAVIS", benchmark="davis2017")
"""

from evaluation.boundary import frame_boundary_f
from evaluation.errors import EvaluationError
from evaluation.metrics import db_statistics, frame_jaccard, frame_scores
from evaluation.report import csv_paths, load_tables, save_tables
from evaluation.runner import evaluate

__all__ = [
    "EvaluationError",
    "csv_paths",
    "db_statistics",
    "evaluate",
    "frame_boundary_f",
    "frame_jaccard",
    "frame_scores",
    "load_tables",
    "save_tables",
]
