"""Bad input: the real malformed and hostile feeds of tests/data/bad-feeds through `newswatch fetch` (the command
a user runs to check feeds), and property-based tests (hypothesis) over feed XML, article text and alert
rendering. Nothing raises, nothing prints a traceback, every input is parsed or recorded as a feed error, and
no script, event-handler or style markup reaches the CLI output, the stored text or an email as live HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.alerts import AlertRecord, Source, load_rules, render_alert, render_digest
from pipeline.config import PROJECT_DIR
from pipeline.feeds import FeedError, _Body, parse_feed
from pipeline.models import Article
from pipeline.normalise import content_hash, html_to_text, normalise_entry, sha1
from pipeline.tagging import get_tagger
from tests.helpers import LIVE_MARKUP, bad_feed_configs

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<style>body{}</style>",
    "&lt;b&gt;",
    "]]>",
    "<![CDATA[<script>x</script>]]>",
    '<a href="javascript:alert(1)">x</a>',
    "&#x3C;script&#x3E;",
    "\u0000",
    "<iframe src=//evil>",
    "&amp;",
    "<!--",
    "\ufeff",
    "<svg onload=alert(1)>",
    "&unknown;",
    "\U0001f4a3",
]
text_pieces = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE))
hostile_text = st.lists(text_pieces, max_size=6).map("".join)


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(NEWSWATCH_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_fetch_over_every_bad_feed(tmp_path: Path) -> None:
    feeds = bad_feed_configs()
    listing = tmp_path / "bad-feeds.yaml"
    listing.write_text(yaml.safe_dump({"feeds": [f.model_dump() for f in feeds]}))

    as_json = cli("fetch", "--feeds", str(listing), "--json", home=tmp_path / "home")
    assert as_json.returncode in (0, 3), as_json.stderr[-3000:]  # 3: some feeds failed, which is expected here
    rows = {row["feed"]: row for row in json.loads(as_json.stdout)}
    assert set(rows) == {f.id for f in feeds}
    for feed_id, row in rows.items():
        assert row["status"] in ("ok", "failed"), row
        if row["status"] == "failed":
            assert row["error"], feed_id  # recorded with its reason
    assert sum(r["status"] == "ok" for r in rows.values()) > 700

    table = cli("fetch", "--feeds", str(listing), "--entries", "--force", home=tmp_path / "home")
    output = table.stdout + table.stderr
    assert table.returncode in (0, 3), output[-3000:]
    assert "Traceback" not in output + as_json.stderr
    sanitize_titles = [line for line in table.stdout.splitlines() if line.startswith("sanitize")]
    assert len(sanitize_titles) > 100
    assert not LIVE_MARKUP.search(output), LIVE_MARKUP.search(output)


def item_xml(title: str, link: str, description: str, date: str) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate>"
        f"<description>{description}</description></item>"
    )


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=hostile_text,
    link=st.one_of(st.text(max_size=30), st.just("https://example.org/a?b=1&amp;c=2")),
    description=hostile_text,
    date=st.one_of(st.text(max_size=30), st.just("Mon, 20 Nov 2026 10:00:00 GMT")),
    raw=st.booleans(),
    tail=st.binary(max_size=20),
)
def test_any_feed_document_is_parsed_or_a_feed_error(
    title: str, link: str, description: str, date: str, raw: bool, tail: bytes
) -> None:
    """Escaped or not (raw: the pieces go in as they are, which is mostly not XML), plus stray bytes."""
    pieces = (title, link, description, date) if raw else tuple(xml_escape(p) for p in (title, link, description, date))
    document = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        + item_xml(*pieces)
        + "</channel></rss>"
    ).encode("utf-8", "surrogatepass") + tail
    try:
        entries, _ = parse_feed(_Body(document, 200, "application/rss+xml", "https://example.org/feed", None, None))
    except FeedError as exc:
        assert str(exc)
        return
    now = datetime(2026, 11, 24, tzinfo=UTC)
    for entry in entries:
        article = normalise_entry(entry, feed_id="prop", source="Prop", language="en", fetched_at=now)
        for field in (article.title, article.summary, article.text):
            assert not LIVE_MARKUP.search(field), field
        assert article.published_at <= now.replace(day=25)


@hypothesis_settings(max_examples=300, deadline=None)
@given(markup=hostile_text)
def test_html_to_text_never_keeps_live_markup(markup: str) -> None:
    assert not LIVE_MARKUP.search(html_to_text(markup))


@pytest.fixture(scope="module")
def tagger():
    return get_tagger("fast", str(PROJECT_DIR / "config"))


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    title=hostile_text,
    text=st.lists(
        st.one_of(
            hostile_text,
            st.sampled_from(
                [
                    "Malaysia and Thailand signed a memorandum of understanding on counter-terrorism.",
                    "\n\n",
                    " ",
                    "Daesh",
                ]
            ),
        ),
        max_size=8,
    ).map(" ".join),
)
def test_tagging_any_text_never_raises(tagger, title: str, text: str) -> None:
    a = Article(
        id=sha1(title + text),
        feed_id="prop",
        source="Prop",
        title=title,
        text=text,
        published_at=datetime(2026, 11, 20, tzinfo=UTC),
        fetched_at=datetime(2026, 11, 20, tzinfo=UTC),
        content_hash=content_hash(title, text),
    )
    tagged = list(tagger.tag([a]))
    assert len(tagged) == 1 and 0.0 <= tagged[0].relevance <= 1.0


@hypothesis_settings(max_examples=150, deadline=None)
@given(title=hostile_text, sentence=hostile_text, source=hostile_text)
def test_alert_emails_escape_whatever_the_article_says(title: str, sentence: str, source: str) -> None:
    rule = next(r for r in load_rules() if r.mode == "immediate")
    record = AlertRecord(
        id="prop",
        rule=rule.id,
        delivery="immediate",
        type="agreement",
        parties=["MY", "TH"],
        dyad="MY-TH",
        sources=[
            Source(
                article_id="a",
                source=source,
                title=title,
                url="https://example.org/a",
                published="2026-11-20 10:00 UTC",
                sentence=sentence,
                trigger="",
                concepts=[],
            )
        ],
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
        message_id="<prop@newswatch.local>",
    )
    for subject, _text, html in (render_alert(record, rule), render_digest([record], rule, record.created_at)):
        assert not LIVE_MARKUP.search(html), html
        assert "\n" not in subject and "\r" not in subject  # no header injection through a title
