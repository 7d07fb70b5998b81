"""The shared HTTP client setup: pooling, timeouts, identity, and size-capped bodies."""

from __future__ import annotations

import email.utils
import time

import httpx

from pipeline.config import Settings
from pipeline.netguard import AllowList, GuardedBackend

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class BodyTooLarge(Exception):
    """The (decompressed) body exceeds the configured maximum."""


def guarded_transport(settings: Settings, allow: AllowList) -> httpx.AsyncHTTPTransport:
    """A transport whose every connection (first request and each redirect hop) passes the address guard."""
    limits = httpx.Limits(
        max_connections=settings.http.concurrency, max_keepalive_connections=settings.http.concurrency
    )
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx 0.28 builds an httpcore pool without a way to pass a network backend; the pool reads this attribute
    # for every new connection (tests/reliability/test_security.py fails if that ever stops being so).
    transport._pool._network_backend = GuardedBackend(allow)  # type: ignore[union-attr]
    return transport


def make_client(
    settings: Settings, *, follow_redirects: bool, guard: AllowList | None = None, **kwargs: object
) -> httpx.AsyncClient:
    """An AsyncClient with a connection pool sized to the concurrency limit and our User-Agent; with `guard`,
    connections to non-public addresses (unless allow-listed) are refused when they are made."""
    http = settings.http
    if guard is not None and "transport" not in kwargs:
        kwargs["transport"] = guarded_transport(settings, guard)
    return httpx.AsyncClient(
        follow_redirects=follow_redirects,
        max_redirects=http.max_redirects,
        timeout=httpx.Timeout(http.read_timeout, connect=http.connect_timeout),
        limits=httpx.Limits(max_connections=http.concurrency, max_keepalive_connections=http.concurrency),
        headers={"User-Agent": settings.user_agent},
        **kwargs,  # type: ignore[arg-type]
    )


async def read_limited(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, stopping as soon as it passes `limit` bytes (so a gzip bomb is cut short)."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit and "content-encoding" not in response.headers:
        raise BodyTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def retry_after_seconds(response: httpx.Response, default: float, cap: float = 60.0) -> float:
    """The server's Retry-After (seconds or HTTP date), else `default`, never above `cap`."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return min(float(value), cap)
    if value:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
            return max(0.0, min(parsed.timestamp() - time.time(), cap))
        except (TypeError, ValueError):
            pass
    return min(default, cap)
