"""Bounding the service's memory: malloc arenas and trims (service/memory.py)."""

from __future__ import annotations

import platform
import time

import pytest

from neuratlas.service import memory

on_glibc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim and mallopt are glibc's"
)


@on_glibc
def test_glibc_takes_both_settings() -> None:
    assert memory.limit_arenas(memory.ARENAS) is True
    assert isinstance(memory.trim(), bool)


@on_glibc
def test_a_trim_gives_back_what_was_freed() -> None:
    def resident_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    # many small blocks, then one more above them: freed, the blocks leave a hole in
    # malloc's heap below the one kept, which malloc does not give back by itself
    blocks = [bytearray(1000) for _ in range(200_000)]
    kept = bytearray(1000)
    del blocks
    freed = resident_mb()
    assert memory.trim() is True
    assert resident_mb() < freed - 100
    del kept


def test_trimmed_returns_the_result_and_trims_even_on_failure(monkeypatch) -> None:
    trims = []
    monkeypatch.setattr(memory, "trim", lambda: trims.append(1) or True)
    assert memory.trimmed(divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        memory.trimmed(divmod, 1, 0)
    assert len(trims) == 2


def test_the_trimmer_trims_until_stopped(monkeypatch) -> None:
    trims = []
    monkeypatch.setattr(memory, "trim", lambda: trims.append(time.monotonic()) or True)
    trimmer = memory.Trimmer(interval=0.05).start()
    time.sleep(0.4)
    trimmer.stop()
    count = len(trims)
    assert count >= 3
    time.sleep(0.2)
    assert len(trims) == count  # stopped means stopped
