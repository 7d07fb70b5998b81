"""Poll feeds: conditional GET with per-feed validators, retries, health and backoff, feedparser parsing.

One bad feed never stops the others: every feed ends in a :class:`FetchResult` whose status says
what happened and whose `state` is the feed's new validators and health, for the caller to persist.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import feedparser
import httpx
from pydantic import BaseModel, Field

from pipeline.config import FeedConfig, Settings
from pipeline.httpclient import (
    RETRY_ERRORS,
    RETRY_STATUSES,
    BodyTooLarge,
    make_client,
    read_limited,
    retry_after_seconds,
)

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
STATE_NAMESPACE = "feed"

Status = Literal["ok", "not_modified", "failed", "skipped", "disabled"]


class FeedState(BaseModel):
    """What is kept per feed between runs: HTTP validators and health."""

    etag: str | None = None
    last_modified: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    next_poll_after: datetime | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    last_entries: int = 0
    last_warnings: list[str] = Field(default_factory=list)  # what feedparser had to repair in the last body
    last_new_articles_at: datetime | None = None


@dataclass
class FetchResult:
    """The outcome of polling one feed."""

    feed: FeedConfig
    status: Status
    state: FeedState
    fetched_at: datetime
    http_status: int | None = None
    error: str | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size: int = 0
    elapsed: float = 0.0
    attempts: int = 0


class FeedError(Exception):
    """A feed could not be fetched or parsed; `retryable` errors count toward backoff the same way."""

    def __init__(self, message: str, http_status: int | None = None, gone: bool = False) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.gone = gone


@dataclass
class _Body:
    content: bytes
    http_status: int | None
    content_type: str
    location: str
    etag: str | None
    last_modified: str | None


class FeedPoller:
    """Polls many feeds concurrently over one pooled httpx client."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self._host_locks: dict[str, asyncio.Semaphore] = {}

    async def poll(
        self,
        feeds: Iterable[FeedConfig],
        states: dict[str, FeedState],
        *,
        now: datetime | None = None,
        force: bool = False,
        on_result: Callable[[FetchResult], None] | None = None,
    ) -> list[FetchResult]:
        """Poll every feed (enabled, not disabled, due unless `force`); results in the feeds' order."""
        now = now or datetime.now(UTC)
        limit = asyncio.Semaphore(self.settings.http.concurrency)
        kwargs = {"transport": self.transport} if self.transport else {}
        async with make_client(self.settings, follow_redirects=True, **kwargs) as client:

            async def one(feed: FeedConfig) -> FetchResult:
                async with limit:
                    result = await self.poll_one(client, feed, states.get(feed.id) or FeedState(), now, force)
                if on_result:
                    on_result(result)
                return result

            return list(await asyncio.gather(*(one(feed) for feed in feeds)))

    async def poll_one(
        self, client: httpx.AsyncClient, feed: FeedConfig, state: FeedState, now: datetime, force: bool = False
    ) -> FetchResult:
        """Poll one feed; never raises for anything the feed or its server does."""
        if not feed.enabled or state.disabled:
            reason = state.disabled_reason if state.disabled else "disabled in the feeds file"
            return FetchResult(feed, "disabled", state, now, error=reason)
        if not force and state.next_poll_after and state.next_poll_after > now:
            return FetchResult(
                feed, "skipped", state, now, error=f"backing off until {state.next_poll_after:%Y-%m-%d %H:%M:%S}Z"
            )
        started = time.monotonic()
        result = FetchResult(feed, "failed", state, now)
        try:
            body = await asyncio.wait_for(
                self._fetch(client, feed, state, result), timeout=self.settings.http.total_timeout
            )
            if body is None:
                result.status = "not_modified"
            else:
                result.size = len(body.content)
                result.entries, result.warnings = parse_feed(body)
                result.status = "ok"
            result.state = self._succeeded(state, now, result, body)
        except FeedError as exc:
            result.error, result.http_status = str(exc), exc.http_status or result.http_status
            result.state = self._failed(state, now, result, gone=exc.gone)
        except TimeoutError:
            result.error = f"gave up after {self.settings.http.total_timeout:g}s in total"
            result.state = self._failed(state, now, result)
        result.elapsed = time.monotonic() - started
        return result

    async def _fetch(
        self, client: httpx.AsyncClient, feed: FeedConfig, state: FeedState, result: FetchResult
    ) -> _Body | None:
        if not feed.url.startswith(("http://", "https://")):
            result.attempts = 1
            return read_local(feed.url, state, self.settings.http.max_body_bytes)
        host = urlsplit(feed.url).netloc
        lock = self._host_locks.setdefault(host, asyncio.Semaphore(self.settings.http.per_host_concurrency))
        headers = {"Accept": FEED_ACCEPT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        http = self.settings.http
        for attempt in range(http.retries + 1):
            result.attempts = attempt + 1
            delay = http.retry_backoff_seconds * 2**attempt
            try:
                async with lock, client.stream("GET", feed.url, headers=headers) as response:
                    result.http_status = response.status_code
                    if response.status_code == 304:
                        return None
                    if response.status_code == 200:
                        content = await read_limited(response, http.max_body_bytes)
                        return _Body(
                            content,
                            200,
                            response.headers.get("content-type", ""),
                            str(response.url),
                            response.headers.get("etag"),
                            response.headers.get("last-modified"),
                        )
                    if response.status_code not in RETRY_STATUSES or attempt == http.retries:
                        raise FeedError(
                            f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                            response.status_code,
                            gone=response.status_code == 410,
                        )
                    delay = retry_after_seconds(response, delay)
            except BodyTooLarge as exc:
                raise FeedError(str(exc), result.http_status) from None
            except httpx.TooManyRedirects:
                raise FeedError(f"too many redirects (more than {http.max_redirects})") from None
            except httpx.DecodingError as exc:
                raise FeedError(f"body cannot be decoded: {exc}", result.http_status) from None
            except RETRY_ERRORS as exc:
                if attempt == http.retries:
                    raise FeedError(_describe_transport_error(exc)) from None
            except httpx.HTTPError as exc:
                raise FeedError(_describe_transport_error(exc)) from None
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _succeeded(self, state: FeedState, now: datetime, result: FetchResult, body: _Body | None) -> FeedState:
        new = state.model_copy(
            update={
                "last_attempt": now,
                "last_success": now,
                "last_status": result.status,
                "last_http_status": result.http_status,
                "consecutive_failures": 0,
                "last_error": None,
                "next_poll_after": None,
            }
        )
        if body is not None:
            new.etag, new.last_modified, new.last_entries = body.etag, body.last_modified, len(result.entries)
            new.last_warnings = list(result.warnings)
        return new

    def _failed(self, state: FeedState, now: datetime, result: FetchResult, gone: bool = False) -> FeedState:
        failures = state.consecutive_failures + 1
        health = self.settings.health
        wait = min(health.backoff_base_seconds * 2 ** (failures - 1), health.backoff_max_seconds)
        return state.model_copy(
            update={
                "last_attempt": now,
                "last_status": "failed",
                "last_http_status": result.http_status,
                "consecutive_failures": failures,
                "last_error": result.error,
                "next_poll_after": now + timedelta(seconds=wait),
                "disabled": gone or state.disabled,
                "disabled_reason": "HTTP 410 Gone: the publisher removed this feed" if gone else state.disabled_reason,
            }
        )


def read_local(location: str, state: FeedState, limit: int) -> _Body | None:
    """A feed from a local file (file:// URL or path); its content hash serves as the ETag."""
    path = Path(unquote(urlsplit(location).path)) if location.startswith("file://") else Path(location)
    try:
        size = path.stat().st_size
        if size > limit:
            raise FeedError(f"file of {size} bytes exceeds the limit of {limit}")
        content = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read {path}: {exc.strerror or exc}") from None
    etag = '"' + hashlib.sha1(content).hexdigest() + '"'
    if state.etag == etag:
        return None
    modified = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
    return _Body(content, None, "", path.resolve().as_uri(), etag, modified)


# Feed HTML is only ever reduced to plain text (normalise.html_to_text drops scripts, styles and every tag),
# so feedparser's own HTML sanitizer and URI rewriting of content would be work thrown away: they cost
# 60% of parsing time on article-length items (bench/polling.py).
FEEDPARSER_OPTIONS: dict[str, Any] = {"sanitize_html": False, "resolve_relative_uris": False}


def parse_feed(body: _Body) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries of a feed document, with warnings for what feedparser had to repair; FeedError if not a feed."""
    headers = {"content-location": body.location}
    if body.content_type:
        headers["content-type"] = body.content_type
    try:
        parsed = feedparser.parse(body.content, response_headers=headers, **FEEDPARSER_OPTIONS)
    except Exception as exc:  # feedparser is lenient; anything it still raises is the document's fault
        raise FeedError(f"feed cannot be parsed: {type(exc).__name__}: {exc}", body.http_status) from None
    warnings = []
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        detail = f"{type(problem).__name__}: {problem}" if problem else "unknown problem"
        if not parsed.entries and not parsed.get("version"):
            raise FeedError(f"not a valid RSS/Atom feed ({detail})", body.http_status)
        warnings.append(f"feed had to be repaired: {detail}")
    elif not parsed.get("version") and not parsed.entries:
        raise FeedError("not an RSS/Atom feed", body.http_status)
    return list(parsed.entries), warnings


def _describe_transport_error(exc: httpx.HTTPError) -> str:
    kind = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "read timed out",
        httpx.PoolTimeout: "no free connection in the pool",
        httpx.ConnectError: "cannot connect",
        httpx.RemoteProtocolError: "server broke the HTTP protocol",
        httpx.ReadError: "connection broken while reading",
    }.get(type(exc), type(exc).__name__)
    text = str(exc)
    return f"{kind}: {text}" if text else kind


def poll_feeds(
    feeds: Iterable[FeedConfig],
    states: dict[str, FeedState],
    settings: Settings,
    *,
    force: bool = False,
    now: datetime | None = None,
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Synchronous entry point: poll the feeds and return one result per feed."""
    return asyncio.run(FeedPoller(settings).poll(feeds, states, now=now, force=force, on_result=on_result))
