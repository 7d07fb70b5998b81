"""Full text: fetch the article page (politely and safely) and extract its main text with trafilatura.

Article URLs come from third-party feeds, so every hop is checked against loopback, private,
link-local and metadata addresses (after DNS resolution) unless the host is allow-listed.
When anything fails the feed's text is kept and the article is flagged with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.robotparser
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import httpx
import trafilatura

from pipeline.config import FeedConfig, Settings
from pipeline.httpclient import BodyTooLarge, make_client, read_limited
from pipeline.models import Article
from pipeline.netguard import AllowList, BlockedAddress, check_url

log = logging.getLogger(__name__)
ROBOTS_TTL_SECONDS = 3600.0


class FetchRefused(Exception):
    """The page was not fetched or not usable; the message is a short reason code plus detail."""


def wants_fulltext(article: Article, feed: FeedConfig, min_chars: int) -> bool:
    """True when the feed asks for full text and the article has a link to fetch."""
    if not article.url or feed.fulltext == "never":
        return False
    return feed.fulltext == "always" or len(article.text) < min_chars


class FullTextExtractor:
    """Fetches pages with a per-host concurrency limit, robots.txt honoured, and the address guard."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.allow = AllowList(settings.fulltext.allow_hosts)
        self.transport = transport
        self._host_locks: dict[str, asyncio.Semaphore] = {}
        self._robots: dict[str, tuple[float, urllib.robotparser.RobotFileParser | None]] = {}

    async def enrich(
        self,
        articles: list[Article],
        feeds: dict[str, FeedConfig],
        on_done: Callable[[Article], None] | None = None,
    ) -> list[Article]:
        """Replace the text of articles that want full text; the rest pass unchanged."""
        min_chars = self.settings.fulltext.min_chars
        todo = [a for a in articles if a.feed_id in feeds and wants_fulltext(a, feeds[a.feed_id], min_chars)]
        if not todo:
            return articles
        limit = asyncio.Semaphore(self.settings.http.concurrency)
        kwargs = {"transport": self.transport} if self.transport else {}
        async with make_client(self.settings, follow_redirects=False, guard=self.allow, **kwargs) as client:

            async def one(article: Article) -> None:
                async with limit:
                    await self.enrich_one(client, article)
                if on_done:
                    on_done(article)

            await asyncio.gather(*(one(a) for a in todo))
        return articles

    async def enrich_one(self, client: httpx.AsyncClient, article: Article) -> None:
        """Extract the page's main text into `article`, or flag why the feed text was kept."""
        assert article.url
        try:
            html, final_url = await self.fetch_page(client, article.url)
            text = await asyncio.to_thread(extract_text, html, final_url)
            if not text:
                raise FetchRefused("no_text: trafilatura found no main text")
            if len(text) < len(article.text):
                raise FetchRefused("shorter: extracted text is shorter than the feed's")
            article.text, article.text_source = text, "extracted"
        except FetchRefused as exc:
            code = str(exc).split(":", 1)[0]
            article.flags.append(f"fulltext_failed:{code}")
            log.info("full text kept from feed for %s: %s", article.url, exc)

    async def fetch_page(self, client: httpx.AsyncClient, url: str) -> tuple[bytes, str]:
        """GET a page, following redirects by hand so that every hop passes the address guard."""
        http = self.settings.http
        for _ in range(http.max_redirects + 1):
            await self._guard(url)
            if self.settings.fulltext.respect_robots and not await self._robots_allow(client, url):
                raise FetchRefused(f"robots: disallowed by robots.txt: {url}")
            response = await self._get(client, url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
            status, location, body = response
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            if status != 200:
                raise FetchRefused(f"http_{status}: HTTP {status} for {url}")
            return body, url
        raise FetchRefused(f"redirects: more than {http.max_redirects} redirects")

    async def _guard(self, url: str) -> None:
        try:
            await check_url(url, self.allow)
        except BlockedAddress as exc:
            raise FetchRefused(f"blocked_address: {exc}") from None

    async def _get(self, client: httpx.AsyncClient, url: str, accept: str) -> tuple[int, str | None, bytes]:
        host = urlsplit(url).netloc
        lock = self._host_locks.setdefault(host, asyncio.Semaphore(self.settings.http.per_host_concurrency))
        try:
            async with lock, client.stream("GET", url, headers={"Accept": accept}) as response:
                if response.status_code != 200:
                    return response.status_code, response.headers.get("location"), b""
                body = await read_limited(response, self.settings.http.max_body_bytes)
                return 200, None, body
        except BodyTooLarge as exc:
            raise FetchRefused(f"too_large: {exc}") from None
        except BlockedAddress as exc:  # the connect-time check (DNS may answer differently than for _guard)
            raise FetchRefused(f"blocked_address: {exc}") from None
        except httpx.HTTPError as exc:
            raise FetchRefused(f"network: {type(exc).__name__}: {exc}") from None

    async def _robots_allow(self, client: httpx.AsyncClient, url: str) -> bool:
        """RFC 9309: a missing robots.txt (4xx) allows all; an unreachable one (5xx, network) allows none."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(origin)
        if cached is None or time.monotonic() - cached[0] > ROBOTS_TTL_SECONDS:
            parser: urllib.robotparser.RobotFileParser | None
            try:
                status, _, body = await self._get(client, origin + "/robots.txt", accept="text/plain")
            except FetchRefused:
                status, body = 599, b""
            if status == 200:
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(body.decode("utf-8", "replace").splitlines())
            elif 400 <= status < 500 or 300 <= status < 400:
                parser = None  # no usable robots.txt: everything allowed
            else:
                parser = urllib.robotparser.RobotFileParser()
                parser.disallow_all = True
            cached = (time.monotonic(), parser)
            self._robots[origin] = cached
        parser = cached[1]
        return parser is None or parser.can_fetch(self.settings.user_agent, url)


def extract_text(html: bytes, url: str) -> str | None:
    """The main text of an HTML page (trafilatura), or None."""
    return trafilatura.extract(html, url=url, include_comments=False, include_tables=False, favor_precision=True)


def enrich_fulltext(
    articles: Iterable[Article],
    feeds: dict[str, FeedConfig],
    settings: Settings,
    on_done: Callable[[Article], None] | None = None,
) -> list[Article]:
    """Synchronous entry point for the full-text stage."""
    return asyncio.run(FullTextExtractor(settings).enrich(list(articles), feeds, on_done))
