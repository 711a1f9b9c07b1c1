"""tailor.allocator: freed tensors' memory is reused, not page-faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What a growing key/value cache does: each step allocates a buffer a little larger than the one it
# frees. Report the minor page faults that cost.
_CHURN = """
import resource, sys
if sys.argv[1] == "tuned":
    from tailor.allocator import keep_freed_memory
    assert keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for step in range(200):
    buf = bytearray((1024 + 64 * step) * 1024)
    buf[::4096] = b"x" * len(buf[::4096])
    del buf
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    default, tuned = _faults("default"), _faults("tuned")
    # By default each larger buffer is a fresh mmap whose pages all fault in: over a million faults.
    assert default > 100_000
    assert tuned < default / 20


def test_setting_it_twice_is_harmless():
    from tailor.allocator import keep_freed_memory

    first = keep_freed_memory()
    assert keep_freed_memory() == first
