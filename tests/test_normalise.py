import time
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.normalise import canonical_url, content_hash, drop_duplicates, html_to_text, normalise_entry

FETCHED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("HTTPS://WWW.Example.COM/News/A?utm_source=x&id=5#frag", "https://www.example.com/News/A?id=5"),
        ("http://example.com:80/a?fbclid=1&gclid=2", "http://example.com/a"),
        ("https://example.com:8443/a?b=2&a=1", "https://example.com:8443/a?a=1&b=2"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?page=2&utm_medium=rss&mc_cid=9", "https://example.com/a?page=2"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    text = html_to_text("<p>First &amp; one</p><script>alert(1)</script><p>Second<br>line</p>")
    assert text == "First & one\n\nSecond\nline"
    assert "alert" not in text


def entry(**kw):
    base = {"title": "A &amp; B", "link": "https://Example.com/x?utm_source=a", "summary": "<p>Short</p>"}
    base.update(kw)
    return base


def test_normalise_entry_fields() -> None:
    published = time.struct_time((2024, 5, 14, 0, 18, 0, 1, 135, 0))
    article = normalise_entry(
        entry(published_parsed=published, content=[{"value": "<p>Long <b>text</b> here</p>"}]),
        feed_id="f",
        source="Feed",
        language="en",
        fetched_at=FETCHED,
    )
    assert article.title == "A & B"
    assert article.canonical_url == "https://example.com/x"
    assert article.text == "Long text here"
    assert article.summary == "Short"
    assert article.published_at == datetime(2024, 5, 14, 0, 18, tzinfo=UTC)
    assert article.flags == []
    assert article.content_hash == content_hash("A & B", "Long text here")


def test_id_is_sha1_of_canonical_url() -> None:
    a = normalise_entry(
        entry(link="https://example.com/x?utm_source=a#top"), feed_id="f", source="F", language="en", fetched_at=FETCHED
    )
    b = normalise_entry(entry(link="https://EXAMPLE.com/x"), feed_id="g", source="G", language="en", fetched_at=FETCHED)
    assert a.id == b.id
    assert len(list(drop_duplicates([a, b]))) == 1


def test_date_fallbacks_and_future_clamp() -> None:
    updated = time.struct_time((2025, 1, 2, 3, 4, 5, 3, 2, 0))
    a = normalise_entry(entry(updated_parsed=updated), feed_id="f", source="F", language="en", fetched_at=FETCHED)
    assert a.published_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC) and "date_from_updated" in a.flags
    b = normalise_entry(entry(), feed_id="f", source="F", language="en", fetched_at=FETCHED)
    assert b.published_at == FETCHED and "date_missing" in b.flags
    future = (FETCHED + timedelta(days=30)).timetuple()
    c = normalise_entry(entry(published_parsed=future), feed_id="f", source="F", language="en", fetched_at=FETCHED)
    assert c.published_at == FETCHED and "date_future_clamped" in c.flags


def test_item_without_link_gets_stable_id_from_feed_and_guid() -> None:
    kw = dict(source="F", language="en", fetched_at=FETCHED)
    a = normalise_entry(entry(link="", id="guid-1"), feed_id="f", **kw)
    b = normalise_entry(entry(link="", id="guid-1"), feed_id="f", **kw)
    c = normalise_entry(entry(link="", id="guid-1"), feed_id="other", **kw)
    assert a.id == b.id != c.id
    assert a.url is None and "no_link" in a.flags


def test_items_written_for_the_demo_stay_recent_and_the_seeds_keep_their_dates() -> None:
    """config/feeds.demo.yaml's `demo_recent_as_of`: entries marked as written for the demo (their category) move
    forward by the time since that instant; the seed document in the same feed keeps its real date."""
    import feedparser

    from pipeline.config import PROJECT_DIR

    parsed = feedparser.parse((PROJECT_DIR / "config" / "samples" / "brecorder.rss.xml").read_bytes())
    as_of = datetime(2026, 11, 22, 15, tzinfo=UTC)
    fetched = as_of + timedelta(days=40, hours=3)
    kept = [normalise_entry(e, feed_id="f", source="s", language="en", fetched_at=fetched) for e in parsed.entries]
    moved = [
        normalise_entry(e, feed_id="f", source="s", language="en", fetched_at=fetched, demo_recent_as_of=as_of)
        for e in parsed.entries
    ]
    seeds = [(k, m) for k, m in zip(kept, moved, strict=True) if k.published_at.year == 2024]
    demo = [(k, m) for k, m in zip(kept, moved, strict=True) if k.published_at.year == 2026]
    assert len(seeds) == 1 and len(demo) == len(parsed.entries) - 1 >= 4
    assert seeds[0][1].published_at == seeds[0][0].published_at and "date_redated_for_demo" not in seeds[0][1].flags
    for k, m in demo:
        assert m.published_at - k.published_at == timedelta(days=40, hours=3)
        assert "date_redated_for_demo" in m.flags and m.published_at < fetched
