"""Saved CSVs are reused only while the predictions, the split and the scoring options are unchanged.

Each test first makes the saved global CSV hold a sentinel J-Mean (0.123456) that no recomputation
gives: when it is printed back the CSVs were reused, when the toy value 0.745098 is the CSVs were
recomputed.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from evaluation import evaluate, save_tables
from evaluation.cli import main
from evaluation.palette import save_index_png
from tests.evaluation.cases import blank, write_davis_dataset, write_davis_results
from tests.evaluation.test_eval_cli import TOY_GLOBAL_CSV

SENTINEL = "0.123456"


def cli(results: Path, dataset: Path, *extra: str) -> int:
    return main(["--results_path", str(results), "--dataset_path", str(dataset), "--workers", "1", *extra])


def record_of(results: Path, suffix: str = "val") -> Path:
    return results / f"global_results-{suffix}.inputs.json"


def plant_sentinel(results: Path, suffix: str = "val") -> None:
    """Overwrite the saved global J-Mean (the CSVs are outputs, not inputs: the record ignores them)."""
    path = results / f"global_results-{suffix}.csv"
    header, values = path.read_text().splitlines()
    path.write_text(f"{header}\n{SENTINEL}{values[values.index(',') :]}\n")


def scored_once(results: Path, dataset: Path, capsys, *extra: str) -> None:
    assert cli(results, dataset, *extra) == 0
    plant_sentinel(results)
    capsys.readouterr()


def test_unchanged_inputs_reuse_the_csvs_and_say_how_to_recompute(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    assert record_of(results).is_file()
    assert cli(results, dataset) == 0
    printed = capsys.readouterr()
    assert SENTINEL in printed.out
    assert "Using precomputed results" in printed.out and "--re" in printed.out
    assert "Evaluating sequences" not in printed.err
    # --re recomputes anyway.
    assert cli(results, dataset, "--re") == 0
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV


def test_a_changed_prediction_recomputes(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    path = results / "seqB" / "00010.png"
    stat = path.stat()
    save_index_png(path, blank(8, 8))  # seqB_1 missed on one frame
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only the content tells
    assert cli(results, dataset) == 0
    out = capsys.readouterr().out
    assert "predictions changed since the CSVs were written" in out and "seqB" in out
    assert SENTINEL not in out
    assert (results / "global_results-val.csv").read_text() != TOY_GLOBAL_CSV  # seqB_1 is now missed


def test_a_new_mtime_with_the_same_content_is_reused(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    for path in results.rglob("*.png"):
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert cli(results, dataset) == 0
    assert SENTINEL in capsys.readouterr().out


def test_a_deleted_prediction_folder_is_not_hidden_by_the_saved_csvs(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    shutil.rmtree(results / "seqA")
    assert cli(results, dataset) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and str(results / "seqA") in error
    # The failed recomputation left the saved results as they were.
    assert SENTINEL in (results / "global_results-val.csv").read_text()


def test_a_changed_split_recomputes(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    (dataset / "ImageSets" / "val.txt").write_text("seqB\nseqA\n")  # same sequences, other order
    assert cli(results, dataset) == 0
    out = capsys.readouterr().out
    assert "split changed" in out and SENTINEL not in out
    assert (results / "per-sequence_results-val.csv").read_text().splitlines()[1].startswith("seqB_1,")


def test_csvs_without_a_record_are_recomputed(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    record_of(results).unlink()
    assert cli(results, dataset) == 0
    out = capsys.readouterr().out
    assert "no record of the inputs" in out and SENTINEL not in out
    assert record_of(results).is_file()


@pytest.mark.parametrize("content", ["{not json", '{"format": 999}', "[]"])
def test_an_unreadable_record_is_no_record(toy_case, capsys, content):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    record_of(results).write_text(content)
    assert cli(results, dataset) == 0
    out = capsys.readouterr().out
    assert "no record of the inputs" in out and SENTINEL not in out


def test_other_metrics_recompute_instead_of_failing(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys, "--metrics", "J,F")
    assert cli(results, dataset) == 0
    out = capsys.readouterr().out
    assert "options changed" in out and "metrics" in out
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV


def test_davis2016_does_not_reuse_davis2017_csvs(tmp_path, capsys):
    square = blank(12, 16)
    square[2:7, 2:7] = 1
    square[8:10, 8:12] = 2
    frames = {"sq": [square] * 4}
    dataset = write_davis_dataset(tmp_path / "DAVIS", frames)
    write_davis_dataset(tmp_path / "DAVIS", frames, year="2016")
    results = write_davis_results(tmp_path / "results", frames)
    base = ["--results_path", str(results), "--davis_path", str(dataset), "--workers", "1"]
    assert main(["--benchmark", "davis2017", *base]) == 0
    capsys.readouterr()
    assert main(["--benchmark", "davis2016", *base]) == 0
    out = capsys.readouterr().out
    assert "options changed" in out and "davis2016" in out
    assert "sq_1" in (results / "per-sequence_results-val.csv").read_text()
    assert "sq_2" not in (results / "per-sequence_results-val.csv").read_text()  # one merged object


def test_the_record_holds_the_split_options_and_a_digest_per_sequence(toy_case):
    results, dataset = toy_case
    assert cli(results, dataset, "--strict-void") == 0
    record = json.loads(record_of(results, "val-strict-void").read_text())
    assert record["split"] == ["seqA", "seqB"]
    assert record["options"] == {
        "benchmark": "vost",
        "metrics": ["J"],
        "strict_void": True,
        "exact_decay": False,
        "resolution": None,
    }
    assert list(record["predictions"]["sequences"]) == ["seqA", "seqB"]
    assert record["predictions"]["files"] == 8 + 4  # the scored frames: all but the first and the last
    assert len(record_of(results, "val-strict-void").read_bytes()) < 2000


def test_saving_from_python_drops_a_record_it_does_not_match(toy_case, capsys):
    results, dataset = toy_case
    scored_once(results, dataset, capsys)
    tables = evaluate(results, dataset, strict_void=True, workers=1)
    save_tables(*tables, (results / "global_results-val.csv", results / "per-sequence_results-val.csv"))
    assert not record_of(results).exists()
    assert cli(results, dataset) == 0
    assert "no record of the inputs" in capsys.readouterr().out
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV
