"""Every real malformed or hostile feed in tests/data/bad-feeds goes through the pass without an unhandled
exception: each is either parsed into articles or recorded as a feed error, and no live markup is stored."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.feeds import STATE_NAMESPACE
from pipeline.run import run_pass
from pipeline.stores import Store
from tests.helpers import LIVE_MARKUP, bad_feed_configs


def test_every_bad_feed_is_parsed_or_recorded(settings: Settings, store: Store) -> None:
    feeds = bad_feed_configs()
    summary = run_pass(settings, feeds, store)
    assert summary.feeds_ok + summary.feeds_failed == len(feeds)
    assert summary.feeds_ok > 700  # feedparser repairs most of them
    states = store.state_items(STATE_NAMESPACE)
    for feed in feeds:
        state = states[feed.id]
        assert state["last_status"] in ("ok", "failed"), feed.id
        if state["last_status"] == "failed":
            assert state["last_error"], feed.id
            assert summary.failed_feeds[feed.id] == state["last_error"]
    assert summary.store_errors == 0
    assert summary.entry_errors == 0
    assert summary.stored > 0


def test_no_live_markup_reaches_the_store(settings: Settings, store: Store) -> None:
    feeds = [f for f in bad_feed_configs() if f.id.startswith("sanitize")]
    run_pass(settings, feeds, store)
    articles = store.query(limit=None)
    assert len(articles) > 100
    for article in articles:
        for field in (article.title, article.summary, article.text, article.author or ""):
            assert not LIVE_MARKUP.search(field), (article.feed_id, field)
