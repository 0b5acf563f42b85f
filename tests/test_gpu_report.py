"""benchmarks/gpu_report.py: the GPU check's files judged against issue 11's targets."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.gpu_report import main


def step_rows(model: str, precision: str, fps_by_frame: dict[int, float], graphs: bool = True) -> list[dict]:
    """Rows as benchmarks/inference.py writes them (frame graph from frame 50 on)."""
    return [
        {
            "model": model,
            "memory": "restricted",
            "precision": precision,
            "cuda_graph": graphs,
            "frame": frame,
            "ms_per_frame": round(1000 / fps, 2),
            "fps": fps,
            "peak_memory_mb": 900.0 + frame / 1000,
            "memory_frames": 9,
            "frame_graph": graphs and frame >= 50,
        }
        for frame, fps in fps_by_frame.items()
    ]


def write(folder: Path, name: str, rows: list[dict]) -> None:
    (folder / name).write_text(json.dumps({"device": "NVIDIA H200", "args": {}, "rows": rows}))


def test_targets_met_and_missed_are_told_apart(tmp_path: Path, capsys) -> None:
    write(
        tmp_path,
        "step_fp32.json",
        step_rows("r50_deaotl", "fp32", {50: 140.0, 400: 160.0})
        + step_rows("r50_aotl", "fp32", {50: 150.0, 400: 149.9}),
    )
    write(tmp_path, "step_fp32_eager.json", step_rows("r50_deaotl", "fp32", {400: 75.0}, graphs=False))
    write(tmp_path, "step_bf16.json", step_rows("r50_deaotl", "bf16", {400: 310.0}))
    write(tmp_path, "step_fp32_long.json", step_rows("r50_deaotl", "fp32", {50: 160.0, 10000: 150.0}))
    write(tmp_path, "step_e2e.json", step_rows("r50_deaotl", "fp32", {150: 100.0}))
    agreement = {"label_agreement": 0.9951, "J": [80.0, 80.2], "J_tr": [70.0, 69.5], "delta_J": 0.2, "delta_J_tr": -0.5}
    (tmp_path / "precision_agreement.json").write_text(json.dumps(agreement))
    (tmp_path / "gpu_check.log").write_text(
        "0000_split: 150 frames, long-term gap 5, 91.00 FPS (90.00 end to end)\n"
        "segmented 2 sequence(s), 300 frames, 92.50 FPS model time, 89.00 end to end; 0 already finished\n"
    )
    assert main([str(tmp_path)]) == 0
    text = (tmp_path / "gpu_check.md").read_text()
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    assert "| r50_deaotl | fp32 | whole frame | 400 | 6.25 | 160.0 | 900 | 150 FPS: met |" in lines
    assert "| r50_aotl | fp32 | whole frame | 400 | 6.67 | 149.9 | 900 | 150 FPS: **not met** |" in lines
    assert "| r50_deaotl | fp32 | none | 400 | 13.33 | 75.0 | 900 | - |" in lines
    assert "| r50_deaotl | bf16 | whole frame | 400 | 3.23 | 310.0 | 900 | 300 FPS: met |" in lines
    # 6.25 -> 6.67 ms is +6.7%, within the 10% of a flat run; memory 900.05 -> 910 MB +1.1%
    assert "6.25 -> 6.67 ms (+6.7%)" in text and "flat within 10%: met." in text
    assert "labels 99.510% equal, delta J +0.20, delta J_tr -0.50" in text and "<= 0.3): met." in text
    assert "89.0 FPS vs the step's 100.0 FPS at the same size: 89% (target >= 90%): **not met**." in text


def test_missing_parts_are_reported_not_guessed(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    text = (tmp_path / "gpu_check.md").read_text()
    assert "(step_fp32.json missing)" in text and "(step_bf16.json missing)" in text
    assert "step_fp32_long.json missing" in text
    assert "precision_agreement.json missing" in text
    assert "the eval's summary line or step_e2e.json is missing" in text
    assert "met" not in text.replace("missing", "")


def test_a_folder_that_is_not_there_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nowhere'} is not a folder"
