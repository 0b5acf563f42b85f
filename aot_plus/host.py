"""A process-wide setting of the host that the command-line tools apply when they start (the library never
changes it by itself).

`keep_freed_memory`: with glibc's default malloc, a large tensor often gets fresh pages from the kernel
(each one zeroed on its first touch) and freed memory at the top of the heap goes back to the kernel, so
every frame pays page faults again. On 2 CPU cores at VOST's 1040x585 network input an R50-DeAOTL frame
spent ~0.6 s of its ~2.1 s in the kernel that way (240k page faults per frame); keeping freed memory cut the
frame by 11-13%, 2-3% at 480x854 and nothing measurable at 240x427, with the same peak memory
(`benchmarks/results/cpu_speed_notes.md`).
"""

from __future__ import annotations

import ctypes
import platform

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit systems
_NEVER_TRIM = 1 << 30  # free memory kept at the top of the heap before any is returned


def keep_freed_memory() -> bool:
    """Lets malloc reuse the memory of freed tensors instead of returning it to the kernel.

    Blocks up to 32 MiB come from the heap and the heap is not trimmed below 1 GiB of free top: the peak
    resident memory is unchanged, it is only given back at exit. Returns False, changing nothing, where
    malloc is not glibc's (macOS, musl).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
