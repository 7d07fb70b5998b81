"""Load: 500 feeds every cycle for 30 cycles against a real feed server (bench/feedhost.py, its own process) with
about 5% of the feeds down at any time (bench/load.py). Memory after a cycle must not grow, failing feeds must
back off and come back, healthy feeds must never be held back. The time per cycle is reported here and measured
against its own earlier cycles in `make bench` (bench/results.md), not asserted: a test does not time things."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import CYCLE, run_cycles
from pipeline.config import HealthSettings

FEEDS, CYCLES = 500, 30


@pytest.mark.timeout(1800)
def test_500_feeds_for_30_cycles_with_5_percent_down(tmp_path: Path) -> None:
    report = run_cycles(feeds=FEEDS, cycles=CYCLES, share=0.05, work=tmp_path)
    rows, outcomes, down = report["cycles"], report["outcomes"], report["down"]
    print("\n".join(str(r) for r in rows))
    print({k: v for k, v in report.items() if k not in ("cycles", "outcomes", "down")})
    assert len(rows) == CYCLES and all(r["ok"] + r["failed"] + r["skipped"] == FEEDS for r in rows)
    assert all(len(d) == round(FEEDS * 0.05) for d in down)

    # Memory: the last third of the cycles holds no more than the second third (5% slack for the allocator).
    assert report["memory_growth"] <= 1.05, report

    # Backoff: feeds that are down are polled on fewer cycles than they are down. With a 5-minute base doubling
    # per failure and 15-minute cycles, an outage that starts at cycle s fails at s, s+1 and s+2 (backoff 5, 10,
    # then 20 minutes) and is skipped at s+3. Feeds come back once their backoff is over.
    assert report["down_polls"] < report["down_feed_cycles"] and report["down_skipped"] > 0
    checked = 0
    for feed, statuses in outcomes.items():
        for start in outage_starts(feed, down, min_length=3):
            if start + 3 < CYCLES:
                assert "skipped" in statuses[start : start + 4], (feed, start, statuses)
                checked += 1
    assert checked >= 10
    # A feed comes back at its next poll after the outage, at most the backoff cap (6 hours, 24 cycles) later.
    cap = int(HealthSettings().backoff_max_seconds // CYCLE.total_seconds())
    assert report["recovered"] > 20 and report["recovery_lag_max_cycles"] <= cap, report

    # Feeds that were never down were polled every cycle and never failed.
    ever_down = {f for cycle in down for f in cycle}
    for feed, statuses in outcomes.items():
        if feed not in ever_down:
            assert set(statuses) <= {"ok", "not_modified"}, (feed, statuses)
    # Every healthy feed publishes one item per cycle: all of them are stored (feeds that were down lose
    # only what scrolled out of their ten-item window before they came back).
    healthy_items = CYCLES * (FEEDS - len(ever_down))
    assert report["stored"] >= healthy_items


def outage_starts(feed: str, down: list[list[str]], min_length: int) -> list[int]:
    """Cycles at which an outage of the feed of at least `min_length` cycles began."""
    starts, streak = [], 0
    for cycle, feeds in enumerate(down + [[]]):
        if feed in feeds:
            streak += 1
            continue
        if streak >= min_length:
            starts.append(cycle - streak)
        streak = 0
    return starts
