"""``--per-frame``: J of every object on every scored frame, its reuse, and the default output unchanged."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.cli import main
from evaluation.per_frame import PER_FRAME_COLUMNS, per_frame_results
from tests.evaluation.cases import frame_name, toy_frames, write_frames

SEQ_A_OBJECT_1 = [8 / 17 if t % 2 == 0 else 8 / 16 for t in range(1, 9)]
SEQ_A_OBJECT_2 = [1, 1, 1, 1, 0, 0, 1, 1]


def cli(results, dataset, *extra: str) -> int:
    return main(["--results_path", str(results), "--dataset_path", str(dataset), "--workers", "1", *extra])


def test_per_frame_csv_holds_every_object_and_scored_frame(toy_case):
    results, dataset = toy_case
    assert cli(results, dataset, "--per-frame") == 0
    table = pd.read_csv(results / "per-frame_results-val.csv", dtype={"Frame": str})
    assert list(table.columns) == PER_FRAME_COLUMNS
    seq_a = table[table["Sequence"] == "seqA"]
    assert list(seq_a["Frame"].unique()) == [frame_name(t) for t in range(1, 9)]  # first and last not scored
    assert seq_a[seq_a["Object"] == 1]["J"].tolist() == pytest.approx(SEQ_A_OBJECT_1, abs=1e-6)
    assert seq_a[seq_a["Object"] == 2]["J"].tolist() == pytest.approx(SEQ_A_OBJECT_2, abs=1e-6)
    assert (table[table["Sequence"] == "seqB"]["J"] == 1.0).all() and len(table) == 2 * 8 + 4
    # The per-object means of the frames are the per-sequence table's J-Mean.
    per_sequence = pd.read_csv(results / "per-sequence_results-val.csv")
    means = table.groupby(["Sequence", "Object"])["J"].mean()
    for row in per_sequence.itertuples():
        sequence, obj = row.Sequence.rsplit("_", 1)
        assert means[(sequence, int(obj))] == pytest.approx(row._2, abs=2e-6)


def test_default_output_has_no_per_frame_file_and_same_tables(toy_case, tmp_path):
    results, dataset = toy_case
    assert cli(results, dataset) == 0
    before = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
    assert not any(name.startswith("per-frame") for name in before)
    assert cli(results, dataset, "--re", "--per-frame") == 0
    after = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
    assert {name: after[name] for name in before} == before  # the other files are byte-identical
    assert sorted(set(after) - set(before)) == ["per-frame_results-val.csv", "per-frame_results-val.inputs.json"]


def test_per_frame_csv_is_reused_only_while_its_inputs_are_unchanged(toy_case, capsys):
    results, dataset = toy_case
    assert cli(results, dataset) == 0  # the tables exist, the per-frame CSV not yet
    capsys.readouterr()
    assert cli(results, dataset, "--per-frame") == 0
    printed = capsys.readouterr().out
    assert "Using precomputed results" in printed and "Scoring the frames for" in printed
    assert cli(results, dataset, "--per-frame") == 0
    assert "Using precomputed per-frame results" in capsys.readouterr().out
    frames = [pd.read_csv(results / "per-frame_results-val.csv")]
    predictions = toy_frames()[1]["seqA"]
    predictions[1][4] = 0  # object 2 of frame 1 is lost
    write_frames(results / "seqA", predictions)
    assert cli(results, dataset, "--per-frame") == 0
    printed = capsys.readouterr().out
    assert "Recomputing the results" in printed and "Per-frame results saved" in printed
    frames.append(pd.read_csv(results / "per-frame_results-val.csv"))
    changed = frames[0]["J"] != frames[1]["J"]
    assert frames[1][changed][["Sequence", "Object", "Frame"]].values.tolist() == [["seqA", 2, 5]]


def test_per_frame_results_reads_or_makes_the_csv(toy_case):
    results, dataset = toy_case
    table = per_frame_results(results, dataset, "val", workers=1)
    assert (results / "per-frame_results-val.csv").is_file()
    again = per_frame_results(results, dataset, "val", workers=1)
    assert (
        again[["Sequence", "Object", "Frame"]].values.tolist() == table[["Sequence", "Object", "Frame"]].values.tolist()
    )
    assert again["J"].tolist() == pytest.approx(table["J"].tolist(), abs=1e-6)
    assert again["Frame"].iloc[0] == "00005"  # file stems stay text


def test_strict_void_has_its_own_per_frame_file(toy_case):
    results, dataset = toy_case
    assert cli(results, dataset, "--per-frame", "--strict-void") == 0
    table = pd.read_csv(results / "per-frame_results-val-strict-void.csv")
    assert table[(table["Sequence"] == "seqA") & (table["Object"] == 1)]["J"].tolist() == pytest.approx([0.5] * 8)
