"""Polling against a real HTTP server on 127.0.0.1: validators, 304, retries, faults, health, backoff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.config import FeedConfig, Settings
from pipeline.feeds import FeedPoller, FeedState, FetchResult, poll_feeds
from tests.feedserver import FeedServer


def feed(server: FeedServer, path: str, fid: str | None = None) -> FeedConfig:
    return FeedConfig(
        id=fid or path.strip("/").replace("/", "-").replace(".", "-").lower()[:60] or "root",
        name=path,
        url=server.url(path),
    )


def poll_one(settings: Settings, cfg: FeedConfig, state: FeedState | None = None, **kw) -> FetchResult:
    states = {cfg.id: state} if state else {}
    return poll_feeds([cfg], states, settings, **kw)[0]


def test_first_poll_then_304_with_etag(settings: Settings, feed_server: FeedServer) -> None:
    cfg = feed(feed_server, "/feeds/malaymail.rss.xml")
    first = poll_one(settings, cfg)
    assert first.status == "ok" and first.http_status == 200
    assert len(first.entries) == 7
    assert first.state.etag and first.state.last_modified
    second = poll_one(settings, cfg, first.state)
    assert second.status == "not_modified" and second.http_status == 304 and second.entries == []
    headers = feed_server.requests[-1][1]
    assert headers["if-none-match"] == first.state.etag
    assert "newswatch" in headers["user-agent"].lower() and "example.org/newswatch-tests" in headers["user-agent"]
    assert "gzip" in headers["accept-encoding"]


def test_last_modified_only_feed_answers_304(settings: Settings, feed_server: FeedServer) -> None:
    cfg = feed(feed_server, "/lm-only/brecorder.rss.xml")
    first = poll_one(settings, cfg)
    assert first.status == "ok" and first.state.etag is None and first.state.last_modified
    second = poll_one(settings, cfg, first.state)
    assert second.status == "not_modified"
    assert feed_server.requests[-1][1]["if-modified-since"] == first.state.last_modified


def test_atom_feed_parses(settings: Settings, feed_server: FeedServer) -> None:
    result = poll_one(settings, feed(feed_server, "/feeds/benarnews.atom.xml"))
    assert result.status == "ok" and len(result.entries) == 6


def test_retries_on_5xx_then_succeeds(settings: Settings, feed_server: FeedServer) -> None:
    result = poll_one(settings, feed(feed_server, "/flaky/a/2", "flaky-a"))
    assert result.status == "ok" and result.attempts == 3
    assert [e["title"] for e in result.entries] == ["Recovered item"]


def test_persistent_5xx_fails_after_retries_and_backs_off(settings: Settings, feed_server: FeedServer) -> None:
    cfg = feed(feed_server, "/status/500", "always-500")
    now = datetime.now(UTC)
    result = poll_feeds([cfg], {}, settings)[0]
    assert result.status == "failed" and result.http_status == 500 and result.attempts == 3
    assert "HTTP 500" in result.error
    state = result.state
    assert state.consecutive_failures == 1 and state.last_error == result.error
    assert state.next_poll_after >= now + timedelta(seconds=59)
    # Not due yet: skipped without a request; --force polls anyway and the backoff doubles.
    before = feed_server.hits["/status/500"]
    skipped = poll_one(settings, cfg, state)
    assert skipped.status == "skipped" and feed_server.hits["/status/500"] == before
    again = poll_one(settings, cfg, state, force=True)
    assert again.state.consecutive_failures == 2
    assert again.state.next_poll_after - again.state.last_attempt == timedelta(seconds=120)


def test_404_fails_without_retry(settings: Settings, feed_server: FeedServer) -> None:
    result = poll_one(settings, feed(feed_server, "/status/404"))
    assert result.status == "failed" and result.http_status == 404 and result.attempts == 1
    assert not result.state.disabled


def test_410_gone_disables_the_feed(settings: Settings, feed_server: FeedServer) -> None:
    cfg = feed(feed_server, "/status/410")
    result = poll_one(settings, cfg)
    assert result.status == "failed" and result.state.disabled and "410" in result.state.disabled_reason
    later = poll_one(settings, cfg, result.state, force=True)
    assert later.status == "disabled"


def test_timeout(settings: Settings, feed_server: FeedServer) -> None:
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"retries": 0})})
    result = poll_one(settings, feed(feed_server, "/slow/3"))
    assert result.status == "failed" and "timed out" in result.error


def test_redirect_loop(settings: Settings, feed_server: FeedServer) -> None:
    result = poll_one(settings, feed(feed_server, "/loop"))
    assert result.status == "failed" and "too many redirects" in result.error


def test_redirect_is_followed(settings: Settings, feed_server: FeedServer) -> None:
    target = feed_server.url("/feeds/brecorder.rss.xml")
    result = poll_one(settings, feed(feed_server, f"/redirect?to={target}", "redirected"))
    assert result.status == "ok" and len(result.entries) == 6


def test_oversized_body_and_gzip_bomb_are_cut(settings: Settings, feed_server: FeedServer) -> None:
    big = poll_one(settings, feed(feed_server, "/big/2000000"))
    assert big.status == "failed" and "exceeds the limit" in big.error
    bomb = poll_one(settings, feed(feed_server, "/gzip-bomb/64"))
    assert bomb.status == "failed" and "exceeds the limit" in bomb.error


def test_truncated_body(settings: Settings, feed_server: FeedServer) -> None:
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"retries": 0})})
    result = poll_one(settings, feed(feed_server, "/truncated"))
    assert result.status == "failed" and result.error


@pytest.mark.parametrize("path", ["/invalid", "/html"])
def test_not_a_feed(settings: Settings, feed_server: FeedServer, path: str) -> None:
    result = poll_one(settings, feed(feed_server, path))
    assert result.status == "failed" and "feed" in result.error


def test_wrong_charset_is_repaired_with_a_warning(settings: Settings, feed_server: FeedServer) -> None:
    result = poll_one(settings, feed(feed_server, "/wrong-charset"))
    assert result.status == "ok" and len(result.entries) == 1
    assert result.warnings and "repaired" in result.warnings[0]
    assert result.entries[0]["title"].startswith("Caf")


def test_connection_refused(settings: Settings) -> None:
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"retries": 0})})
    cfg = FeedConfig(id="closed", name="closed", url="http://127.0.0.1:9/feed")
    result = poll_one(settings, cfg)
    assert result.status == "failed" and "cannot connect" in result.error


def test_local_files_and_file_urls(settings: Settings, tmp_path) -> None:
    from tests.conftest import SAMPLES

    by_path = FeedConfig(id="p", name="p", url=str(SAMPLES / "analysis.atom.xml"))
    by_url = FeedConfig(id="u", name="u", url=(SAMPLES / "world-wire.rss.xml").as_uri())
    missing = FeedConfig(id="m", name="m", url=str(tmp_path / "nope.xml"))
    results = poll_feeds([by_path, by_url, missing], {}, settings)
    assert [r.status for r in results] == ["ok", "ok", "failed"]
    assert len(results[0].entries) == 1 and len(results[1].entries) == 8
    assert "cannot read" in results[2].error
    again = poll_feeds([by_path], {"p": results[0].state}, settings)[0]
    assert again.status == "not_modified"


def test_one_bad_feed_never_stops_the_others(settings: Settings, feed_server: FeedServer) -> None:
    paths = ["/feeds/malaymail.rss.xml", "/status/500", "/invalid", "/loop", "/status/410", "/feeds/benarnews.atom.xml"]
    feeds = [feed(feed_server, p, f"feed{i}") for i, p in enumerate(paths)]
    results = poll_feeds(feeds, {}, settings)
    assert [r.status for r in results] == ["ok", "failed", "failed", "failed", "failed", "ok"]
    assert all(r.error for r in results if r.status == "failed")


def test_disabled_in_config_is_not_polled(settings: Settings, feed_server: FeedServer) -> None:
    cfg = FeedConfig(id="off", name="off", url=feed_server.url("/feeds/off.xml"), enabled=False)
    result = poll_one(settings, cfg)
    assert result.status == "disabled" and feed_server.hits["/feeds/off.xml"] == 0


def test_concurrency_limit_is_respected(settings: Settings, feed_server: FeedServer) -> None:
    """Eight feeds that each take 0.3 s with a limit of 2 cannot all be in flight at once."""
    settings = settings.model_copy(
        update={"http": settings.http.model_copy(update={"concurrency": 2, "read_timeout": 5})}
    )
    feeds = [FeedConfig(id=f"s{i}", name="s", url=feed_server.url(f"/slow/0.3?n={i}")) for i in range(8)]
    in_flight, peak = 0, 0
    poller = FeedPoller(settings)
    original = poller.poll_one

    async def counting(*args, **kwargs):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(*args, **kwargs)
        finally:
            in_flight -= 1

    poller.poll_one = counting  # type: ignore[method-assign]
    results = asyncio.run(poller.poll(feeds, {}))
    assert all(r.status == "ok" for r in results)
    assert peak == 2
