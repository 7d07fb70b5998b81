"""The benchmark code itself (bench/), run small: it must keep working, whatever the figures are.
Nothing here times anything; `make bench` measures."""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench import corpus, polling
from bench.endtoend import measure
from bench.feedhost import FeedHost
from bench.results import RESULTS, table


def test_corpus_is_deterministic_and_about_one_in_fifty_is_counter_terrorism() -> None:
    first = list(corpus.articles(500))
    assert first == list(corpus.articles(500))
    assert sum(a.ct for a in first) == 10
    words = [len(a.text.split()) for a in first]
    assert 100 < min(words) and max(words) < 1000


def test_polling_benchmark_runs_small() -> None:
    figures = polling.run(argparse.Namespace(feeds=6))
    assert figures["poll_feeds"] == 6 and 6 * 20 <= figures["poll_items"] <= 6 * 100
    assert figures["poll_ratio"] > 0 and figures["repoll_500_seconds"] > 0


def test_end_to_end_pass_in_a_child_process_stores_every_article(tmp_path: Path) -> None:
    result = measure(200, "sqlite", tmp_path)
    assert result["stored"] == result["entries"] == 200
    assert result["peak_rss_mb"] > 10


def test_the_report_table_has_every_figure_of_the_last_run() -> None:
    results = json.loads(RESULTS.read_text())
    for key in (
        "repoll_500_seconds",
        "poll_ratio",
        "tagging_fast_ratio",
        "tagging_full_ratio",
        "es_upsert_ratio",
        "end_to_end_ratio",
        "growth_time_ratio",
        "growth_memory_ratio",
        "machine",
        "date",
    ):
        assert key in results, key
    rendered = table(results)
    for key in ("poll_ratio", "tagging_fast_ratio", "es_upsert_ratio", "end_to_end_sqlite_ratio", "growth_time_ratio"):
        assert f"| {results[key]} |" in rendered, key


def test_the_feed_host_serves_one_folder_as_several_loopback_publishers(tmp_path: Path) -> None:
    """The scale run spreads its feeds over loopback addresses so that ingest plans one batch per host."""
    (tmp_path / "feed.xml").write_bytes(corpus.rss("feed", list(corpus.articles(2))))
    with FeedHost(tmp_path, hosts=3) as host:
        urls = [host.url("feed.xml", h) for h in range(3)]
        assert [urlsplit(u).hostname for u in urls] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        bodies = {httpx.get(u).content for u in urls}
        assert bodies == {(tmp_path / "feed.xml").read_bytes()}
        assert httpx.get(host.url("other.xml", 2)).status_code == 404


def test_the_feed_host_counts_requests_in_flight_per_address(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_bytes(corpus.rss("feed", list(corpus.articles(1))))
    with FeedHost(tmp_path, hosts=2, delay=0.5) as host:
        with ThreadPoolExecutor(3) as pool:
            statuses = list(pool.map(lambda _: httpx.get(host.url("feed.xml", 1)).status_code, range(3)))
        assert statuses == [200, 200, 200]
        httpx.get(host.url("feed.xml", 0))
        assert host.peaks() == {"127.0.0.2": 3, "127.0.0.1": 1}
