"""Counters the reliability suite reports at the end of a run (see conftest.py)."""

from __future__ import annotations

from collections import Counter

CRASH_POINTS: list[str] = []  # each kill -9 actually delivered, by moment
FAULTS: Counter[str] = Counter()  # faults injected by the proxy, by kind
HOSTILE_INPUTS: list[str] = []  # hostile inputs fed to etc (hypothesis examples not included)
LEAKS: list[str] = []  # secrets found anywhere they must not be (must stay empty)


def summary() -> str:
    return (f"reliability: {len(CRASH_POINTS)} crash points (kill -9), {sum(FAULTS.values())} faults injected "
            f"({', '.join(f'{k} {v}' for k, v in sorted(FAULTS.items())) or 'none'}), "
            f"{len(HOSTILE_INPUTS)} hostile inputs, {len(LEAKS)} secret leaks")
