"""What running something took: wall time and peak memory of a block, and the price of the machine's hour.

A leaf that any layer may import: the runner measures each strategy's answers, the compress suite each
variant's, and the cost suite and --until-decided price the seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tailor.eval.settings import CostConfig


@dataclass
class Measurement:
    wall_s: float = 0.0
    peak_rss_bytes: int = 0


@contextmanager
def measure(interval_s: float = 0.02) -> Iterator[Measurement]:
    """Measure wall time and peak RSS of the enclosed block (RSS sampled every ``interval_s``)."""
    import psutil

    proc = psutil.Process()
    m = Measurement(peak_rss_bytes=proc.memory_info().rss)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            m.peak_rss_bytes = max(m.peak_rss_bytes, proc.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    thread.start()
    try:
        yield m
    finally:
        stop.set()
        thread.join()
        m.wall_s = time.perf_counter() - start
        m.peak_rss_bytes = max(m.peak_rss_bytes, proc.memory_info().rss)


def hour_price(cfg: CostConfig) -> float:
    """The price of an hour of this machine: a GPU's where one ran the work, else the CPU machine's."""
    import torch

    return cfg.gpu_hour_usd if torch.cuda.is_available() else cfg.cpu_hour_usd
