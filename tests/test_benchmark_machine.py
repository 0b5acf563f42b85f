"""How the benchmarks name the machine they ran on (``benchmarks/scorer.py``'s ``cpu_name``)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.scorer import cpu_name


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / f"cpuinfo_{len(flags)}"
    first = f"processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 {flags}\n"
    path.write_text(first + "\nprocessor\t: 1\nmodel name\t: another name\nflags\t\t: fpu\n")
    return path


def test_cpu_name_gives_the_model_and_the_widest_vector_extension(tmp_path):
    assert cpu_name(cpuinfo(tmp_path, "avx avx2 avx512f avx512bw")) == "AMD EPYC 9R14, AVX-512"
    assert cpu_name(cpuinfo(tmp_path, "avx avx2")) == "AMD EPYC 9R14, AVX2"
    assert cpu_name(cpuinfo(tmp_path, "")) == "AMD EPYC 9R14"
    assert cpu_name(tmp_path / "missing")  # no /proc: the platform's name, whatever it is
