"""Each benchmark in bench/ still runs: its smallest run, as `make bench` runs it (its own process,
its own dev server), completes and prints its comparison line. The figures are not checked: at this
size they mean nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SMALLEST = [
    pytest.param(["bench.lifecycle_throughput", "--cases", "1", "--concurrency", "1", "--repeats", "1"],
                 "throughput ratio ours/raw", id="lifecycle_throughput"),
    pytest.param(["bench.history_growth", "--notes", "11"], "growth ratio ours", id="history_growth"),
    pytest.param(["bench.action_latency", "--rounds", "1", "--per-round", "2", "--long-notes", "2", "--cases", "2"],
                 "median ratio ours/raw", id="action_latency"),
    pytest.param(["bench.list_latency", "--cases", "100", "--rounds", "1", "--per-round", "1", "--timers", "4",
                  "--timer-batch", "2"], "worker RSS ratio ours/raw", id="list_latency"),
]


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("args", "expected"), SMALLEST)
def test_smallest_run_completes(args: list[str], expected: str) -> None:
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=80)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert expected in done.stdout, done.stdout[-2000:]
