"""Normalise feed entries (feedparser dicts) into Articles: canonical URL, id, dates, text, hash."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from pipeline import PIPELINE_VERSION
from pipeline.models import Article

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "cmpid",
        "ocid",
        "ncid",
        "sr_share",
        "ref_src",
        "ref_url",
        "spm",
        "at_medium",
        "at_campaign",
        "rss",
        "s_cid",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_")
DEFAULT_PORTS = {"http": 80, "https": 443}
BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article header footer figure "
    "figcaption dd dt hr".split()
)
SPACES = re.compile(r"[ \t\u00a0\u200b]+")
BLANK_LINES = re.compile(r"\n\s*\n+")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # not text; lxml refuses them
ACTIVE_TAGS = "script|style|iframe|frame|frameset|object|embed|applet|meta|link|base|form|svg|img|math"
# Markup left in text after one layer of HTML is taken off (a feed that escapes its HTML twice).
MARKUP_IN_TEXT = re.compile(rf"<\s*/?\s*[a-z][a-z0-9-]*(\s[^<>]*)?/?\s*>|<\s*/?\s*({ACTIVE_TAGS})\b", re.I)
ACTIVE_TAG_START = re.compile(rf"<(?=\s*/?\s*({ACTIVE_TAGS})\b)", re.I)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters, sorted query."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if host else parts.netloc.lower()
    if ":" in host:
        netloc = f"[{host}]"
    if port and DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{netloc}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def html_to_text(markup: str) -> str:
    """Readable plain text from an HTML fragment: tags dropped, entities decoded, paragraphs kept.

    Doubly escaped HTML (`&amp;lt;p&amp;gt;`, common in feeds) has its second layer taken off too; whatever
    still reads as the start of an active tag (<script, <img ...) gets a harmless angle quote instead of `<`,
    so the text can never turn into live markup wherever it is shown."""
    text = _layer_to_text(markup)
    for _ in range(2):
        if not MARKUP_IN_TEXT.search(text):
            break
        text = _layer_to_text(text)
    return ACTIVE_TAG_START.sub("\u2039", text)


def _layer_to_text(markup: str) -> str:
    """One layer of HTML off; control characters go before parsing (lxml refuses them) and after (entities)."""
    markup = CONTROL_CHARS.sub("", markup or "")
    if not markup.strip():
        return ""
    if "<" not in markup:
        return _tidy(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    for bad in root.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in BLOCK_TAGS:
            el.tail = "\n\n" + (el.tail or "")
            if el.tag.lower() == "br":
                el.tail = "\n" + (el.tail or "").lstrip("\n")
    return _tidy(root.text_content())


def _tidy(text: str) -> str:
    text = CONTROL_CHARS.sub("", text)
    lines = [SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def entry_text(entry: dict[str, Any]) -> tuple[str, str]:
    """(summary, text) of an entry: text from the longest content over the summary, as plain text."""
    summary = html_to_text(entry.get("summary", "") or "")
    contents = [html_to_text(c.get("value", "") or "") for c in entry.get("content", []) or []]
    text = max(contents, key=len, default="")
    if len(text) < len(summary):
        text = summary
    return summary, text


def entry_date(entry: dict[str, Any], fetched_at: datetime, tolerance: timedelta) -> tuple[datetime, list[str]]:
    """Published date in UTC with flags: fallback to updated, then fetch time; far-future dates clamped."""
    for key, flag in (("published_parsed", None), ("updated_parsed", "date_from_updated")):
        parsed = entry.get(key)
        if parsed:
            try:
                when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
            flags = [flag] if flag else []
            if when > fetched_at + tolerance:
                return fetched_at, flags + ["date_future_clamped"]
            return when, flags
    return fetched_at, ["date_missing"]


# Items written for the demo (scripts/build_samples.py) carry this category; see FeedConfig.demo_recent_as_of.
DEMO_TAG = "newswatch-demo"
DEMO_TAG_SCHEME = "https://newswatch.example/demo"


def written_for_demo(entry: dict[str, Any]) -> bool:
    return any((tag.get("term") or "") == DEMO_TAG for tag in entry.get("tags", []) or [])


def normalise_entry(
    entry: dict[str, Any],
    *,
    feed_id: str,
    source: str,
    language: str | None,
    fetched_at: datetime,
    future_tolerance: timedelta = timedelta(days=1),
    speaks_for: str | None = None,
    demo_recent_as_of: datetime | None = None,
) -> Article:
    """One feedparser entry as an Article. With `demo_recent_as_of`, an entry written for the demo is moved
    forward by the time since that instant (flag `date_redated_for_demo`), so the demo stays recent."""
    title = html_to_text(html.unescape(entry.get("title", "") or ""))
    summary, text = entry_text(entry)
    link = (entry.get("link") or "").strip()
    guid = (entry.get("id") or "").strip() or None
    url = canon = None
    flags: list[str] = []
    if link and urlsplit(link).scheme in ("http", "https"):
        url, canon = link, canonical_url(link)
        article_id = sha1(canon)
    else:
        flags.append("no_link")
        article_id = sha1(f"{feed_id}\n{guid or title or text[:200]}")
    published, date_flags = entry_date(entry, fetched_at, future_tolerance)
    if demo_recent_as_of is not None and written_for_demo(entry):
        published += max(fetched_at - demo_recent_as_of, timedelta(0))
        date_flags.append("date_redated_for_demo")
    author = entry.get("author") or None
    return Article(
        id=article_id,
        url=url,
        canonical_url=canon,
        guid=guid,
        feed_id=feed_id,
        source=source,
        title=title,
        summary=summary,
        text=text,
        language=language,
        author=html_to_text(author) if author else None,
        published_at=published,
        fetched_at=fetched_at,
        content_hash=content_hash(title, text),
        flags=flags + date_flags,
        speaks_for=speaks_for,
        pipeline_version=PIPELINE_VERSION,
    )


def content_hash(title: str, text: str) -> str:
    """Hash of what a reader sees; whitespace differences do not change it."""
    return sha1(" ".join(title.split()) + "\n" + " ".join(text.split()))


def drop_duplicates(
    articles: Iterable[Article], counter: dict[str, int] | None = None, seen: set[str] | None = None
) -> Iterator[Article]:
    """Drop articles whose id (canonical URL) was already seen in this stream (or in `seen`, which a
    caller shares across several streams of one pass), within or across feeds."""
    seen = set() if seen is None else seen
    for article in articles:
        if article.id in seen:
            if counter is not None:
                counter["duplicates"] = counter.get("duplicates", 0) + 1
            continue
        seen.add(article.id)
        yield article
