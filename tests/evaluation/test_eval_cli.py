"""The command line: CSV layout, reuse of saved results, entry points, and no torch import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.cli import main

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

TOY_GLOBAL_CSV = (
    "J-Mean,J-Recall,J-Decay,J_last-Mean,J_last-Recall,J_last-Decay\n"
    "0.745098,0.583333,0.114379,0.828431,0.666667,0.009804\n"
)
TOY_PER_SEQUENCE_CSV = (
    "Sequence,J-Mean,J_last-Mean\nseqA_1,0.485294,0.485294\nseqA_2,0.750000,1.000000\nseqB_1,1.000000,1.000000\n"
)


def cli(results: Path, dataset: Path, *extra: str) -> int:
    return main(["--results_path", str(results), "--dataset_path", str(dataset), "--set", "val", *extra])


def test_csv_layout_and_printed_tables(toy_case, capsys):
    results, dataset = toy_case
    assert cli(results, dataset, "--workers", "1") == 0
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV
    assert (results / "per-sequence_results-val.csv").read_text() == TOY_PER_SEQUENCE_CSV
    printed = capsys.readouterr().out
    assert "Global results for val" in printed and "0.745098" in printed and "seqB_1" in printed
    assert sorted(path.name for path in results.iterdir() if path.is_file()) == [
        "global_results-val.csv",
        "global_results-val.inputs.json",  # the record of the inputs, see test_eval_reuse
        "per-sequence_results-val.csv",
    ]


def test_saved_results_are_reused_unless_re(toy_case, capsys):
    # More cases (changed predictions, split or options) are in test_eval_reuse.
    results, dataset = toy_case
    assert cli(results, dataset, "--workers", "1") == 0
    capsys.readouterr()
    assert cli(results, dataset) == 0
    printed = capsys.readouterr().out
    assert "Using precomputed results" in printed and "0.745098" in printed
    shutil.rmtree(results / "seqA")  # a recomputation now fails
    assert cli(results, dataset, "--re") == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and str(results / "seqA") in error
    # The failed recomputation left the saved results as they were.
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV
    assert (results / "per-sequence_results-val.csv").read_text() == TOY_PER_SEQUENCE_CSV


def test_strict_void_has_its_own_files(toy_case):
    results, dataset = toy_case
    assert cli(results, dataset, "--workers", "1") == 0
    assert cli(results, dataset, "--strict-void", "--workers", "1") == 0
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV
    strict = (results / "global_results-val-strict-void.csv").read_text().splitlines()
    # seqA_1 becomes 8/16 on every frame; see test_eval_scoring.test_toy_case_with_strict_void.
    assert strict[1] == "0.750000,0.583333,0.111111,0.833333,0.666667,0.000000"
    assert (results / "per-sequence_results-val-strict-void.csv").read_text().splitlines()[1] == (
        "seqA_1,0.500000,0.500000"
    )


def test_unknown_arguments_are_ignored_with_a_warning(toy_case, capsys):
    results, dataset = toy_case
    assert cli(results, dataset, "--workers", "1", "--davis_year", "2017") == 0
    assert "warning: ignoring unknown arguments: --davis_year 2017" in capsys.readouterr().err


def test_bad_dataset_path_exits_with_one_line(toy_case, tmp_path, capsys):
    results, _ = toy_case
    assert cli(results, tmp_path / "missing") == 1
    assert capsys.readouterr().err.strip() == (
        f"error: dataset path '{tmp_path / 'missing'}' does not exist and is not one of the keys vost, long_videos"
    )


@pytest.mark.parametrize(
    "entry_point", [["evaluation/evaluation_method.py"], ["-m", "evaluation"]], ids=["script", "module"]
)
def test_entry_points(entry_point, toy_case, tmp_path):
    results, dataset = toy_case
    command = [sys.executable, *entry_point, "--results_path", str(results)]
    command += ["--dataset_path", str(dataset)]
    done = subprocess.run(command, cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "0.745098" in done.stdout
    assert "Evaluating sequences" in done.stderr and "Evaluating sequences" not in done.stdout
    assert "warning: seqB: predicted ids [3]" in done.stderr
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV


def test_the_package_never_imports_torch():
    modules = sorted(
        f"evaluation.{path.stem}" for path in (REPOSITORY_ROOT / "evaluation").glob("*.py") if path.stem != "__main__"
    )
    code = f"import sys; import {', '.join(modules)}; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    assert len(modules) >= 8


def test_an_unwritable_results_folder_is_one_line(toy_case, capsys, monkeypatch):
    import errno

    import pandas as pd

    results, dataset = toy_case

    def read_only(self, *args, **kwargs):  # root ignores permission bits: a read-only disk instead
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pd.DataFrame, "to_csv", read_only)
    assert cli(results, dataset, "--workers", "1") == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == f"error: {results / 'global_results-val.csv'}: cannot be written (Read-only file system)"
    assert not list(results.glob("*.csv")) and not list(results.glob(".*.tmp"))
