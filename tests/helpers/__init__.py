"""Helpers shared by test modules: demo feeds, articles made for a test, SMTP settings for the test server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pipeline.config import PROJECT_DIR, FeedConfig, Settings, SmtpSettings, load_feeds
from pipeline.models import Article
from pipeline.normalise import content_hash, sha1
from pipeline.tagging import get_tagger
from tests.feedserver import FeedServer

# The demo feeds served from tests/data/feeds (27 articles, one duplicate entry).
DEMO = ["malaymail.rss.xml", "brecorder.rss.xml", "benarnews.atom.xml", "analysis.atom.xml", "world-wire.rss.xml"]
BAD_FEEDS = PROJECT_DIR / "tests" / "data" / "bad-feeds"
# Markup that must never reach a stored article or an email: scripts, frames, event handlers.
LIVE_MARKUP = re.compile(
    r"<\s*(script|iframe|object|embed|applet|style|meta|link|frame)\b|\bon[a-z]+\s*=\s*['\"]", re.I
)
MOU = "Malaysia and Thailand signed a memorandum of understanding on counter-terrorism and intelligence sharing."
# Recent, so that alerts on it are new news (rules' max_age_days): half a day before the test session began.
ALERT_T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
STORE_T0 = datetime(2026, 11, 1, tzinfo=UTC)


# The instant config/feeds.demo.yaml moves the items written for the demo forward from (they stay recent news).
DEMO_AS_OF = load_feeds(PROJECT_DIR / "config" / "feeds.demo.yaml")[0].demo_recent_as_of


def demo_feeds(server: FeedServer) -> list[FeedConfig]:
    """The demo feeds over HTTP, their written-for-the-demo items kept recent as config/feeds.demo.yaml does."""
    return [
        FeedConfig(id=name.split(".")[0], name=name, url=server.url(f"/feeds/{name}"), demo_recent_as_of=DEMO_AS_OF)
        for name in DEMO
    ]


def bad_feed_configs() -> list[FeedConfig]:
    """One feed per file of the malformed-feed corpus (tests/data/bad-feeds)."""
    files = sorted(p for p in BAD_FEEDS.rglob("*.xml"))
    assert len(files) > 700, f"expected the bad-feeds corpus at {BAD_FEEDS}"
    return [
        FeedConfig(id=re.sub(r"[^a-z0-9_-]", "-", str(p.relative_to(BAD_FEEDS)).lower()), name=p.name, url=str(p))
        for p in files
    ]


def with_smtp(settings: Settings, port: int, timeout_seconds: float = 5, **kw) -> Settings:
    """The settings with plain SMTP to the test server on `port`."""
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=timeout_seconds, **kw)
    return settings.model_copy(update={"smtp": smtp})


def article(n: int, title: str, text: str, *, source: str = "Outlet", published: datetime = ALERT_T0) -> Article:
    """Article n of outlet n, tagged in fast mode."""
    a = Article(
        id=sha1(f"https://outlet{n}.example/story"),
        url=f"https://outlet{n}.example/story",
        feed_id=f"feed{n}",
        source=source,
        title=title,
        text=text,
        published_at=published,
        fetched_at=published,
        content_hash=content_hash(title, text),
    )
    return next(iter(get_tagger("fast", str(PROJECT_DIR / "config")).tag([a])))


def make(n: int, *, text: str = "", feed: str = "f1", **kw) -> Article:
    """Untagged article n for the store tests, published n hours after STORE_T0."""
    title = kw.pop("title", f"Article number {n}")
    text = text or f"Body of article {n} about the economy."
    return Article(
        id=sha1(f"https://example.org/{n}"),
        url=f"https://example.org/{n}",
        canonical_url=f"https://example.org/{n}",
        feed_id=feed,
        source="Example",
        title=title,
        text=text,
        published_at=kw.pop("published_at", STORE_T0 + timedelta(hours=n)),
        fetched_at=STORE_T0,
        content_hash=content_hash(title, text),
        **kw,
    )
