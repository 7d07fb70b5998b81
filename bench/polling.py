"""Polling: 500 generated feeds (20-100 items each, RSS and Atom) served on 127.0.0.1 by a separate process.

First poll (every feed answers 200) in feeds/s and items/s, against feedparser parsing the same bytes from
memory with the options Newswatch uses (the bound: no network, no conditional GET, no limits); then a re-poll
where every feed answers 304,
in seconds for all 500 (target: under 2 s).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import feedparser

from bench.corpus import write_feeds
from bench.feedhost import FeedHost
from pipeline.config import FeedConfig, load_settings
from pipeline.feeds import FEEDPARSER_OPTIONS, poll_feeds

REPEATS = 2


def poll_settings(home: Path) -> Any:
    """The default settings, except that all feeds share one loopback host here: the per-host politeness
    limit (2 by default, meant for feeds spread over many hosts) is raised to the global concurrency."""
    settings = load_settings(home=home)
    return settings.model_copy(
        update={"http": settings.http.model_copy(update={"per_host_concurrency": settings.http.concurrency})}
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(500)
    sizes = [rng.randint(20, 100) for _ in range(args.feeds)]
    with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
        folder = Path(tmp) / "feeds"
        written = write_feeds(folder, sizes)
        items = sum(n for _, n in written)
        total_bytes = sum((folder / name).stat().st_size for name, _ in written)
        bodies = [(folder / name).read_bytes() for name, _ in written]

        bound = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            parsed = sum(len(feedparser.parse(body, **FEEDPARSER_OPTIONS).entries) for body in bodies)
            bound = min(bound, time.perf_counter() - started)
        assert parsed == items
        del bodies

        settings = poll_settings(Path(tmp) / "home")
        with FeedHost(folder) as host:
            feeds = [FeedConfig(id=f"f{i}", name=name, url=host.url(name)) for i, (name, _) in enumerate(written)]
            first = float("inf")
            for _ in range(REPEATS):
                started = time.perf_counter()
                results = poll_feeds(feeds, {}, settings)
                first = min(first, time.perf_counter() - started)
            assert sum(len(r.entries) for r in results) == items, "every item of every feed"
            states = {r.feed.id: r.state for r in results}
            del results
            repoll = float("inf")
            for _ in range(REPEATS):
                started = time.perf_counter()
                again = poll_feeds(feeds, states, settings)
                repoll = min(repoll, time.perf_counter() - started)
            assert {r.status for r in again} == {"not_modified"}
    return {
        "poll_feeds": len(feeds),
        "poll_items": items,
        "poll_megabytes": round(total_bytes / 1e6, 1),
        "poll_feeds_per_s": round(len(feeds) / first, 1),
        "poll_items_per_s": round(items / first, 1),
        "poll_bound_feedparser_items_per_s": round(items / bound, 1),
        "poll_ratio": round(bound / first, 3),
        "repoll_500_seconds": round(repoll * 500 / len(feeds), 3),
    }
