"""The feed half of the fault matrix (docs/reliability.md): every fault a feed server or a feed document can
produce, served for real on 127.0.0.1 next to five good feeds, through a whole pass and a rerun.

For each case: the pass finishes; the good feeds' 27 articles are stored exactly once after the rerun; the faulty
feed is either recorded as failed with its reason (and backs off, and is polled again once the backoff is over)
or its items are stored once with what had to be repaired recorded on them (flags) or on the feed (warnings).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import FeedConfig, Settings
from pipeline.feeds import STATE_NAMESPACE
from pipeline.run import run_pass
from pipeline.stores import open_store
from tests.conftest import SAMPLES, serving
from tests.feedserver import FeedServer
from tests.helpers import DEMO

GOOD_ARTICLES = 27  # the five demo feeds: 28 entries, one story in two feeds

ITEM = (
    "<item><title>{title}</title>{link}{guid}{date}<description>Police in Kuala Lumpur said the suspects had "
    "been planning attacks.</description></item>"
)
LINK = "<link>https://faults.example/{n}</link>"
DATE = "<pubDate>{date}</pubDate>"


def feed_document(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Faults</title>'
        f"<link>https://faults.example/</link><description>crafted</description>{''.join(items)}</channel></rss>"
    )


def item(
    n: int,
    *,
    title: str | None = None,
    link: bool = True,
    guid: str | None = None,
    date: str | None = "Mon, 20 Nov 2026 10:00:00 GMT",
) -> str:
    return ITEM.format(
        title=title or f"Crafted item {n}",
        link=LINK.format(n=n) if link else "",
        guid=f'<guid isPermaLink="false">{guid}</guid>' if guid else "",
        date=DATE.format(date=date) if date else "",
    )


CRAFTED = {
    "empty.rss.xml": feed_document(),
    # The same GUID three times: an exact repeat, and a repeat with another title (a CMS republishing).
    "dup-guids.rss.xml": feed_document(
        item(1, guid="g-1"),
        item(1, guid="g-1"),
        item(1, guid="g-1", title="Crafted item 1 (updated)"),
        item(2, guid="g-2"),
    ),
    "no-link.rss.xml": feed_document(
        item(1, link=False, guid="nolink-1"), item(2, link=False, title="No link, no guid")
    ),
    "no-date.rss.xml": feed_document(item(1, date=None), item(2, date="not a date at all")),
    "future-date.rss.xml": feed_document(item(1, date="Fri, 01 Jan 2100 00:00:00 GMT"), item(2)),
}


@dataclass(frozen=True)
class Case:
    """One row of the matrix: where the faulty feed is served and what the pass must make of it."""

    id: str
    path: str
    error: str | None = None  # a failed feed: its recorded reason matches this
    stored: int = 0  # articles stored from the faulty feed
    flags: dict[str, int] = field(default_factory=dict)  # flag -> how many of its articles carry it
    warning: str | None = None  # a repaired feed: its recorded warning matches this
    duplicates: int = 0
    disabled: bool = False
    max_attempts: int | None = None  # requests per pass (retries only where they can help)


CASES = [
    Case("timeout", "/slow/3", error=r"read timed out"),
    Case("http-500", "/status/500", error=r"HTTP 500", max_attempts=3),
    Case("http-503-then-ok", "/flaky/reliability/2", stored=1),
    Case("connection-reset", "/reset", error=r"connection broken|server broke the HTTP protocol"),
    Case("reset-mid-body", "/reset-body", error=r"connection broken|server broke the HTTP protocol"),
    Case("http-404", "/status/404", error=r"HTTP 404", max_attempts=1),
    Case("http-410", "/status/410", error=r"HTTP 410", max_attempts=1, disabled=True),
    Case("redirect-loop", "/loop", error=r"too many redirects"),
    Case("truncated-body", "/truncated", error=r"without sending complete message body"),
    Case("over-size-limit", "/big/2000000", error=r"exceeds the limit", max_attempts=1),
    Case("gzip-bomb", "/gzip-bomb/64", error=r"exceeds the limit", max_attempts=1),
    Case("invalid-xml", "/invalid", error=r"not a valid RSS/Atom feed", max_attempts=1),
    Case("html-not-a-feed", "/html", error=r"not a valid RSS/Atom feed|not an RSS/Atom feed", max_attempts=1),
    Case("mislabelled-charset", "/wrong-charset", stored=1, warning=r"repaired"),
    Case("empty-feed", "/feeds/empty.rss.xml"),
    Case("duplicate-guids", "/feeds/dup-guids.rss.xml", stored=2, duplicates=2),
    Case("no-link", "/feeds/no-link.rss.xml", stored=2, flags={"no_link": 2}),
    Case("no-date", "/feeds/no-date.rss.xml", stored=2, flags={"date_missing": 2}),
    Case("future-date", "/feeds/future-date.rss.xml", stored=2, flags={"date_future_clamped": 1}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedServer]:
    folder = tmp_path_factory.mktemp("fault-feeds")
    for name in DEMO:
        shutil.copy(SAMPLES / name, folder / name)
    for name, text in CRAFTED.items():
        (folder / name).write_text(text, encoding="utf-8")
    with serving(folder) as feed_server:
        yield feed_server


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, server: FeedServer, settings: Settings, tmp_path: Path) -> None:
    good = [FeedConfig(id=name.split(".")[0], name=name, url=server.url(f"/feeds/{name}")) for name in DEMO]
    faulty = FeedConfig(id="faulty", name=case.id, url=server.url(case.path))
    feeds = [*good[:2], faulty, *good[2:]]
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime.now(UTC)
    hits_before = server.hits[case.path.split("?")[0]]

    first = run_pass(settings, feeds, store, now=now)
    attempts = server.hits[case.path.split("?")[0]] - hits_before
    state = store.state_get(STATE_NAMESPACE, "faulty")
    assert state is not None
    if case.error:
        assert first.feeds_failed == 1 and re.search(case.error, first.failed_feeds["faulty"]), first.failed_feeds
        assert state["last_status"] == "failed" and state["last_error"] == first.failed_feeds["faulty"]
        assert state["consecutive_failures"] == 1 and state["disabled"] is case.disabled
        if not case.disabled:
            assert datetime.fromisoformat(state["next_poll_after"]) > now  # backs off
    else:
        assert first.feeds_failed == 0 and state["last_status"] == "ok"
    if case.warning:
        assert any(re.search(case.warning, w) for w in state["last_warnings"]), state
    if case.max_attempts is not None:
        assert attempts <= case.max_attempts, f"{attempts} requests for a fault that retrying cannot mend"
    assert first.duplicates == 1 + case.duplicates
    assert first.stored == store.count() == GOOD_ARTICLES + case.stored

    # The rerun, after the backoff is over: the failing feed is polled again and fails the same way,
    # nothing is stored twice, the good feeds answer 304.
    later = now + timedelta(hours=2)
    second = run_pass(settings, feeds, store, now=later)
    assert second.stored == 0 and store.count() == GOOD_ARTICLES + case.stored
    assert second.feeds_not_modified >= len(good)
    state = store.state_get(STATE_NAMESPACE, "faulty")
    if case.disabled:
        assert second.feeds_disabled == 1 and state["disabled_reason"]
    elif case.error:
        assert second.feeds_failed == 1 and state["consecutive_failures"] == 2

    mine = store.query(feed_id="faulty", limit=None)
    assert len(mine) == case.stored and len({a.id for a in mine}) == case.stored
    for flag, count in case.flags.items():
        assert sum(flag in a.flags for a in mine) == count, [(a.title, a.flags) for a in mine]
    assert all(a.published_at <= later for a in mine)
    store.close()


def test_a_dropped_body_is_fetched_again_on_the_next_poll(
    server: FeedServer, settings: Settings, tmp_path: Path
) -> None:
    """A failed fetch does not advance the validators: when the server recovers, the feed's items arrive."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    feed = FeedConfig(id="recovering", name="recovering", url=server.url("/flaky/recovering/10"))
    no_retries = settings.model_copy(update={"http": settings.http.model_copy(update={"retries": 0})})
    now = datetime.now(UTC)
    assert run_pass(no_retries, [feed], store, now=now).feeds_failed == 1
    assert run_pass(no_retries, [feed], store, now=now + timedelta(seconds=30)).feeds_skipped == 1  # backing off
    for minutes in range(1, 60):
        summary = run_pass(no_retries, [feed], store, now=now + timedelta(minutes=minutes * 10))
        if summary.feeds_ok:
            break
    assert summary.stored == 1 and store.count() == 1
    store.close()
