"""Per-host politeness across workers: a host's feeds are planned into one batch, so two workers running batches
at once never exceed the per-host limit on one publisher (the loopback feed server counts requests in flight
per Host header: 127.0.0.1 and localhost are two publishers here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.jobs import plan_batches
from tests.feedserver import FeedServer

PER_HOST = 2
SLOW = "/slow/0.4"  # an empty feed answered after 0.4 s, so that requests overlap


@pytest.fixture
def two_publishers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed_server: FeedServer) -> None:
    """A feeds file with 6 feeds on each of two hosts, listed alternately, in the environment the jobs (and the
    worker processes, which inherit it) read."""
    hosts = {"a": f"127.0.0.1:{feed_server.port}", "b": f"localhost:{feed_server.port}"}
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{id: {h}{n}, name: '{h}{n}', url: 'http://{hosts[h]}{SLOW}?feed={h}{n}'}}\n"
            for n in range(6)
            for h in hosts
        )
    )
    for key in [k for k in os.environ if k.startswith("NEWSWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWSWATCH_FEEDS_FILE", str(feeds))
    monkeypatch.setenv("NEWSWATCH_TAGGING__MODE", "fast")
    monkeypatch.setenv("NEWSWATCH_HTTP__PER_HOST_CONCURRENCY", str(PER_HOST))


def test_a_hosts_feeds_are_never_split_across_batches(two_publishers: None) -> None:
    batches = plan_batches(4)
    assert sorted(sorted(b) for b in batches) == [[f"a{n}" for n in range(6)], [f"b{n}" for n in range(6)]]
    assert all(len({feed[0] for feed in batch}) == 1 for batch in batches)


def test_two_workers_never_exceed_the_per_host_limit(two_publishers: None, feed_server: FeedServer) -> None:
    """Each planned batch runs in a process of its own, all at once, as mapped tasks on two workers would."""
    feed_server.peak.clear()
    batches = plan_batches(4)
    code = "import json, sys; from pipeline.jobs import ingest_batch; print(json.dumps(ingest_batch(sys.argv[1:])))"
    workers = [
        subprocess.Popen([sys.executable, "-c", code, *batch], stdout=subprocess.PIPE, text=True) for batch in batches
    ]
    results = [json.loads(w.communicate(timeout=300)[0].strip().splitlines()[-1]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert sum(r["feeds_ok"] for r in results) == 12
    peaks = {host.split(":")[0]: n for host, n in feed_server.peak.items()}
    assert peaks == {"127.0.0.1": PER_HOST, "localhost": PER_HOST}  # the limit was reached, never passed
