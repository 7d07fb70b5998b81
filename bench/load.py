"""Load: 500 feeds polled every cycle for 30 cycles (each cycle is 15 simulated minutes, the ingest DAG's schedule)
against the bench feed host in --live mode, with about 5% of the feeds down at any time (outages of 1 to 8 cycles
at feeds drawn at random, answering 500, 503 or 404). Every feed publishes one new item per cycle and shows its
latest ten.

The passes run in a child process of their own (`python -m bench.load --child ...`), so that its memory is the
pass's: after each cycle it reports the seconds the cycle took and its resident memory (VmRSS, after a garbage
collection). Per-feed poll outcomes show the backoff: a feed that keeps failing is polled less and less often
(5 min, 10 min, 20 min ... after successive failures) and again as soon as its backoff is over.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.corpus import T0, article, rss
from bench.feedhost import FeedHost

CYCLE = timedelta(minutes=15)
WINDOW = 10  # items a feed shows
FAULTS = ["503", "500", "404"]


class Outages:
    """Which feeds are down in each cycle: about `share` of them, each outage lasting 1 to 8 cycles."""

    def __init__(self, feeds: int, share: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.feeds, self.target = feeds, max(1, round(feeds * share))
        self.down: dict[int, tuple[int, str]] = {}  # feed -> (cycles left, status)

    def next_cycle(self) -> dict[int, str]:
        self.down = {f: (left - 1, status) for f, (left, status) in self.down.items() if left > 1}
        while len(self.down) < self.target:
            feed = self.rng.randrange(self.feeds)
            if feed not in self.down:
                self.down[feed] = (self.rng.randint(1, 8), self.rng.choice(FAULTS))
        return {f: status for f, (_, status) in self.down.items()}


def publish(folder: Path, feeds: int, cycle: int, down: dict[int, str]) -> None:
    """Each feed's latest WINDOW items as of `cycle` (short items: this measures polling, not tagging)."""
    for f in range(feeds):
        name = folder / f"feed-{f:04d}.xml"
        items = [
            replace(a, paragraphs=a.paragraphs[:1], published=T0 + CYCLE * n)
            for n in range(max(0, cycle + 1 - WINDOW), cycle + 1)
            for a in [article(f * 1000 + n)]
        ]
        name.write_bytes(rss(f"feed{f}", list(reversed(items))))
        status = name.with_name(name.name + ".status")
        if f in down:
            status.write_text(down[f])
        else:
            status.unlink(missing_ok=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(feeds: int, cycles: int, share: float, seed: int, tagging: str, work: Path) -> dict[str, Any]:
    """The cycles themselves (in the child process)."""
    from pipeline.config import FeedConfig, load_settings
    from pipeline.run import NullReporter, run_pass
    from pipeline.stores import open_store
    from pipeline.tagging import tagger_for

    folder = work / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    outages = Outages(feeds, share, seed)
    settings = load_settings(
        home=work / "home",
        tagging={"mode": tagging},
        http={"retries": 1, "retry_backoff_seconds": 0.05, "per_host_concurrency": 16},
    )
    tag = tagger_for(settings)
    outcome: dict[str, list[str]] = {f"f{f:04d}": [] for f in range(feeds)}

    class Outcomes(NullReporter):
        def feed_done(self, result: Any) -> None:
            outcome[result.feed.id].append(result.status)

    rows, down_log = [], []
    with FeedHost(folder, live=True) as host, open_store(f"sqlite:///{work / 'home' / 'load.db'}") as store:
        feed_list = [
            FeedConfig(id=f"f{f:04d}", name=f"feed {f}", url=host.url(f"feed-{f:04d}.xml")) for f in range(feeds)
        ]
        for cycle in range(cycles):
            down = outages.next_cycle()
            down_log.append(sorted(f"f{f:04d}" for f in down))
            publish(folder, feeds, cycle, down)
            gc.collect()
            started = time.perf_counter()
            summary = run_pass(settings, feed_list, store, tag=tag, reporter=Outcomes(), now=T0 + CYCLE * cycle)
            seconds = time.perf_counter() - started
            gc.collect()
            rows.append(
                {
                    "cycle": cycle,
                    "seconds": round(seconds, 3),
                    "rss_mb": round(rss_mb(), 1),
                    "ok": summary.feeds_ok,
                    "failed": summary.feeds_failed,
                    "skipped": summary.feeds_skipped,
                    "stored": summary.stored,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        stored = store.count()
    return {"cycles": rows, "outcomes": outcome, "down": down_log, "stored": stored}


def run_cycles(
    feeds: int = 500,
    cycles: int = 30,
    share: float = 0.05,
    seed: int = 7,
    tagging: str = "fast",
    work: Path | None = None,
) -> dict[str, Any]:
    """Run the cycles in a child process; returns its report with the backoff and growth figures added."""
    work = work or Path(tempfile.mkdtemp(prefix="nwload-"))
    command = [
        sys.executable,
        "-m",
        "bench.load",
        "--child",
        "--feeds",
        str(feeds),
        "--cycles",
        str(cycles),
        "--share",
        str(share),
        "--seed",
        str(seed),
        "--tagging",
        tagging,
        "--work",
        str(work),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"load run failed:\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report.update(backoff(report["outcomes"], report["down"]) | growth(report["cycles"]))
    return report


def backoff(outcomes: dict[str, list[str]], down: list[list[str]]) -> dict[str, Any]:
    """Polls of feeds while they were down, against the cycles they were down; and how many cycles a feed that
    came back waited for its backoff to end (recovery lag)."""
    down_cycles = polls = skipped = 0
    for cycle, feeds in enumerate(down):
        for feed in feeds:
            down_cycles += 1
            status = outcomes[feed][cycle]
            polls += status == "failed"
            skipped += status == "skipped"
    lags = []
    for cycle in range(1, len(down)):
        for feed in set(down[cycle - 1]) - set(down[cycle]):  # back up in this cycle
            later = outcomes[feed][cycle:]
            if "ok" in later:
                lags.append(later.index("ok"))
    return {
        "down_feed_cycles": down_cycles,
        "down_polls": polls,
        "down_skipped": skipped,
        "down_poll_share": round(polls / down_cycles, 3) if down_cycles else 0.0,
        "recovered": len(lags),
        "recovery_lag_max_cycles": max(lags, default=0),
    }


def growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Time and memory of the last third of the cycles against the second third (the first third warms up:
    the first cycle stores every feed's whole window, and allocators settle)."""
    third = len(rows) // 3
    middle, last = rows[third : 2 * third], rows[2 * third :]
    return {
        "cycle_seconds_middle": round(statistics.median(r["seconds"] for r in middle), 3),
        "cycle_seconds_last": round(statistics.median(r["seconds"] for r in last), 3),
        "cycle_time_growth": round(
            statistics.median(r["seconds"] for r in last) / statistics.median(r["seconds"] for r in middle), 3
        ),
        "rss_mb_middle": max(r["rss_mb"] for r in middle),
        "rss_mb_last": max(r["rss_mb"] for r in last),
        "memory_growth": round(max(r["rss_mb"] for r in last) / max(r["rss_mb"] for r in middle), 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The `load` suite of `python -m bench`."""
    report = run_cycles(feeds=args.feeds, cycles=args.cycles)
    keys = (
        "cycle_seconds_middle",
        "cycle_seconds_last",
        "cycle_time_growth",
        "rss_mb_middle",
        "rss_mb_last",
        "memory_growth",
        "down_feed_cycles",
        "down_polls",
        "down_poll_share",
        "recovery_lag_max_cycles",
    )
    return {f"load_{key}": report[key] for key in keys} | {"load_feeds": args.feeds, "load_cycles": args.cycles}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--share", type=float, default=0.05, help="share of feeds down at any time")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tagging", choices=["fast", "full", "off"], default="fast")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        work = args.work or Path(tempfile.mkdtemp(prefix="nwload-"))
        print(json.dumps(child(args.feeds, args.cycles, args.share, args.seed, args.tagging, work)))
        return
    report = run_cycles(args.feeds, args.cycles, args.share, args.seed, args.tagging, args.work)
    for row in report["cycles"]:
        print(row)
    print({k: v for k, v in report.items() if k not in ("cycles", "outcomes", "down")})


if __name__ == "__main__":
    main()
