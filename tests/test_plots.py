"""``aot_plus.plots``: the memory timeline's data and pictures, and the comparison of two results folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aot_plus.plots import (
    MemorySpan,
    entry_scores,
    folder_labels,
    main,
    memory_raster,
    memory_spans,
    plot_compare,
    plot_memory_timeline,
)
from tests.evaluation.cases import blank, rectangle, write_dataset, write_results

PNG = b"\x89PNG\r\n\x1a\n"


def restricted_log(frames: int = 30, gap: int = 2, slots: int = 4) -> dict:
    """A memory log of one sequence as a bank of ``slots`` frames writes it: frame 0 kept, the entry with
    the lowest (made-up) score evicted once the bank is full, every write after the first scored."""
    memory, entries, events = [0], [], [{"frame": 0, "frames": [0], "evicted": None}]
    for t in range(frames):
        if t and t % gap == 0:
            scored = list(memory)
            memory.append(t)
            score = [1.0 + 0.1 * ((f * 7) % 5) for f in scored]
            evicted = None
            if len(memory) > slots:
                position = 1 + int(np.argmin(score[1:]))
                evicted = memory.pop(position)
            events.append(
                {
                    "frame": t,
                    "frames": list(memory),
                    "evicted": evicted,
                    "scored_frames": scored,
                    "relevance": [1 / len(scored)] * len(scored),
                    "smoothed_relevance": [1 / len(scored)] * len(scored),
                    "stay_counts": [1.0] * len(scored),
                    "bonus": [s - 1 / len(scored) for s in score],
                    "score": score,
                }
            )
        entries.append({"frame": f"{t:05d}", "memory": list(memory)})
    return {"long_term_gap": gap, "frames": entries, "events": events}


def test_raster_is_the_memory_frames_of_the_log():
    log = restricted_log()
    raster = memory_raster(log)
    assert raster.shape == (max(max(e["memory"]) for e in log["frames"]) + 1, len(log["frames"]))
    for t, entry in enumerate(log["frames"]):
        assert np.flatnonzero(raster[:, t]).tolist() == entry["memory"]
    assert any(event["evicted"] is not None for event in log["events"])


def test_spans_are_the_stays_in_memory():
    frames = [{"memory": [0]}, {"memory": [0, 1]}, {"memory": [0, 1, 2]}, {"memory": [0, 2]}, {"memory": [0, 2, 4]}]
    spans, count = memory_spans(iter(frames))  # one pass: a generator will do
    assert count == 5
    assert spans == [MemorySpan(0, 0, 5), MemorySpan(1, 1, 3), MemorySpan(2, 2, 5), MemorySpan(4, 4, 5)]


def test_entry_scores_follow_each_entry_over_the_writes():
    log = restricted_log()
    scores = entry_scores(log["events"])
    scored_events = [e for e in log["events"] if "score" in e]
    assert scores[0].writes == [e["frame"] for e in scored_events]  # frame 0 is scored at every write
    for event in scored_events:
        for i, frame in enumerate(event["scored_frames"]):
            k = scores[frame].writes.index(event["frame"])
            assert scores[frame].score[k] == event["score"][i] and scores[frame].bonus[k] == event["bonus"][i]


@pytest.mark.parametrize("scored", [True, False])
def test_timeline_png_is_written(tmp_path, scored):
    log = restricted_log()
    if not scored:  # fifo / unrestricted logs: writes without scores
        log["events"] = [{k: e[k] for k in ("frame", "frames", "evicted")} for e in log["events"]]
    plot_memory_timeline(log, tmp_path / "timeline.png", "title")
    assert (tmp_path / "timeline.png").read_bytes().startswith(PNG)
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary left


def test_memory_command_draws_one_png_per_sequence(tmp_path, capsys):
    log = tmp_path / "log.json"
    log.write_text(
        json.dumps({"model": "aott", "memory": {}, "sequences": {"a": restricted_log(), "b": restricted_log(9)}})
    )
    assert main(["memory", str(log)]) == 0
    assert sorted(p.name for p in (tmp_path / "log_timelines").iterdir()) == ["a.png", "b.png"]
    assert main(["memory", str(log), "--out", str(tmp_path / "only"), "--sequences", "b"]) == 0
    assert [p.name for p in (tmp_path / "only").iterdir()] == ["b.png"]
    capsys.readouterr()
    assert main(["memory", str(log), "--sequences", "c"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and str(log) in err and "no sequence c" in err


@pytest.mark.parametrize(
    "text, phrase",
    [("{", "not valid JSON"), ('{"sequences": {}}', "not a memory log"), ('{"sequences": {"a": {}}}', "'frames'")],
)
def test_bad_memory_log_is_one_line(tmp_path, capsys, text, phrase):
    log = tmp_path / "log.json"
    log.write_text(text)
    assert main(["memory", str(log)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(log) in err and phrase in err
    assert main(["memory", str(tmp_path / "missing.json")]) == 2
    assert "memory log not found" in capsys.readouterr().err


def per_frame(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(name, 1, f"{t:05d}", j) for name, js in values.items() for t, j in enumerate(js)]
    return pd.DataFrame(rows, columns=["Sequence", "Object", "Frame", "J"])


def test_plot_compare_writes_a_png(tmp_path):
    a = per_frame({"s1": [1.0, 0.5, 0.2], "s2": [0.9, 0.9]})
    b = per_frame({"s1": [1.0, 0.8, 0.7], "s2": [0.5, 0.4]})
    plot_compare(a, b, tmp_path / "cmp.png", ("A", "B"))
    assert (tmp_path / "cmp.png").read_bytes().startswith(PNG)


def test_compare_command_scores_both_folders_per_frame(tmp_path, capsys):
    truth = [rectangle(8, 8, (2, 6), (2, 6)) for _ in range(6)]
    dataset = write_dataset(tmp_path / "data", {"seq": truth})
    good = write_results(tmp_path / "good" / "val", {"seq": truth})
    bad = write_results(tmp_path / "bad" / "val", {"seq": [truth[0]] + [blank(8, 8)] * 5})
    out = tmp_path / "cmp.png"
    args = ["compare", str(good), str(bad), "--dataset-root", str(dataset), "--out", str(out)]
    assert main(args) == 0
    assert out.read_bytes().startswith(PNG)
    for folder, j in ((good, 1.0), (bad, 0.0)):
        table = pd.read_csv(folder / "per-frame_results-val.csv")
        assert table["J"].tolist() == [j] * 4  # the 4 scored frames
    assert folder_labels(good, bad) == ("good/val", "bad/val")
    capsys.readouterr()
    assert main(["compare", str(good), str(tmp_path / "none"), "--dataset-root", str(dataset)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tmp_path / "none") in err
