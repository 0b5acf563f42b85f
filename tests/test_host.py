"""`keep_freed_memory`: after it, a frame of inference no longer takes its memory from the kernel again.

The real case runs in its own interpreter (the setting is process-wide) and counts the minor page faults
of six frames of AOT-T at 240x427, after one frame of warm-up.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from aot_plus import host
from aot_plus.host import keep_freed_memory

REPO = Path(__file__).resolve().parents[1]

PAGE_FAULTS_PER_FRAME = """
import json, resource, statistics
import numpy as np, torch
import aot_plus
from aot_plus import host
from aot_plus.host import keep_freed_memory

applied = keep_freed_memory()
torch.set_num_threads(2)
torch.manual_seed(0)
rng = np.random.default_rng(0)
frames = [rng.integers(0, 255, (240, 427, 3), dtype=np.uint8) for _ in range(8)]
mask = np.zeros((240, 427), np.uint8)
mask[50:150, 100:250], mask[160:220, 300:400] = 1, 2
session = aot_plus.InferenceSession(aot_plus.build_model("aott"))
session.add_reference(frames[0], mask)
session.step(frames[1])
faults = []
for frame in frames[2:]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    session.step(frame).label
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "median": statistics.median(faults)}))
"""


def page_faults_per_frame_kept() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PAGE_FAULTS_PER_FRAME], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc is not glibc's")


@glibc_only
def test_frames_stop_faulting_in_fresh_pages():
    kept = page_faults_per_frame_kept()
    assert kept["applied"] is True
    # By default a frame faults in 3,700-8,300 fresh pages here (15-32 MiB), though glibc's adaptive
    # threshold sometimes settles on its own; with freed memory kept, a few dozen at most.
    assert kept["median"] < 500


@glibc_only
def test_malloc_gets_the_32_mib_mmap_threshold_and_no_trimming(monkeypatch):
    calls = []

    def mallopt(parameter: int, value: int) -> int:
        calls.append((parameter, value))
        return 1

    monkeypatch.setattr(host.ctypes, "CDLL", lambda name: SimpleNamespace(mallopt=mallopt))
    assert keep_freed_memory() is True
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    assert calls == [(m_mmap_threshold, 32 * 2**20), (m_trim_threshold, 2**30)]


@pytest.mark.parametrize("system, libc", [("Darwin", ("", "")), ("Linux", ("musl", "1.2"))])
def test_elsewhere_nothing_is_changed(monkeypatch, system, libc):
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "libc_ver", lambda: libc)
    assert keep_freed_memory() is False
