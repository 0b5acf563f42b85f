"""Standalone VOST evaluation (J and J_tr), numerically identical to the official VOST code.

It needs numpy, pandas, pillow and tqdm, and never imports torch. Python use::

    from evaluation import evaluate, save_tables, csv_paths
    global_table, per_sequence_table = evaluate("results/my_method", "datasets/VOST", split="val")
"""
from evaluation.errors import EvaluationError
from evaluation.metrics import db_statistics, frame_jaccard
from evaluation.report import csv_paths, load_tables, save_tables
from evaluation.runner import evaluate

__all__ = [
    "EvaluationError",
    "csv_paths",
    "db_statistics",
    "evaluate",
    "frame_jaccard",
    "load_tables",
    "save_tables",
]
