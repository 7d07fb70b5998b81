"""A real HTTP server on 127.0.0.1 for tests: feeds with validators and 304s, faulty endpoints, article pages.

Routes
  /feeds/NAME            a file from the feed folder; ETag + Last-Modified, 304 on a matching conditional GET,
                         gzip when asked for
  /lm-only/NAME          the same with Last-Modified only (no ETag)
  /status/CODE           an empty answer with that status
  /flaky/KEY/N           503 for the first N requests of KEY, then the demo feed
  /slow/SECONDS          waits, then answers
  /loop                  redirects to itself
  /redirect?to=URL       302 to URL
  /big/BYTES             a well-formed feed padded to BYTES bytes
  /gzip-bomb/MB          MB megabytes of zeros, gzip-compressed on the wire
  /truncated             promises more bytes than it sends, then closes
  /reset                 resets the connection (TCP RST) before answering
  /reset-body            sends the headers and part of the body, then resets the connection
  /invalid               not XML at all
  /html                  an HTML page instead of a feed
  /wrong-charset         declares utf-8 but is windows-1252
  /summary-feed          summary-only items linking to /articles/N.html on this server
  /articles/N.html       an article page with a long main text
  /private/N.html        an article page that robots.txt disallows
  /robots.txt            disallows /private/
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import sys
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)

ARTICLE_TEXT = [
    "Malaysia and Singapore signed a memorandum of understanding on counter-terrorism cooperation on Monday, "
    "the two foreign ministries said in a joint statement issued in Putrajaya.",
    "The agreement covers intelligence sharing, joint training of police units and the exchange of expertise on "
    "the rehabilitation of detained militants, officials said.",
    "Officials from both countries said the memorandum builds on years of quiet cooperation between their police "
    "forces, and that a joint working group would meet every six months to review progress.",
    "The ministers also discussed the return of foreign fighters from Syria and the financing of militant groups "
    "through online platforms, and agreed to work with regional partners on counter-messaging.",
]


def article_page(n: int) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in ARTICLE_TEXT)
    return (
        (
            "<!DOCTYPE html><html><head><title>Article {n}</title></head><body>"
            "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
            f"<article><h1>Full story {n}</h1>{paragraphs}</article>"
            "<footer>Copyright Example News. All rights reserved.</footer></body></html>"
        )
        .replace("{n}", str(n))
        .encode()
    )


def rss(items: list[tuple[str, str, str]], encoding: str = "utf-8") -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Mon, 20 Nov 2026 10:00:00 GMT</pubDate><description>{d}</description></item>"
        for t, link, d in items
    )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>Test feed</title>'
        f"<link>http://example.org/</link><description>test</description>{body}</channel></rss>"
    )


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 drops SYNs when a poll opens many connections at once
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Connections the tests reset on purpose (/reset) are not errors worth a traceback."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


class FeedServer:
    """Starts on a free port of 127.0.0.1 in a daemon thread; `url(path)` builds URLs; `hits` counts requests,
    `peak` the most answered at once per Host header."""

    def __init__(self, feed_dir: Path) -> None:
        self.feed_dir = feed_dir
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight: Counter[str] = Counter()  # requests being answered, per Host header
        self.peak: Counter[str] = Counter()  # the most at once, per Host header
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="feed-server", daemon=True)

    def start(self) -> FeedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def enter(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] += 1
            self.peak[host] = max(self.peak[host], self.in_flight[host])

    def leave(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] -= 1

    def record(self, path: str, headers: dict[str, str]) -> int:
        with self.lock:
            self.hits[path] += 1
            self.requests.append((path, headers))
            return self.hits[path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FeedServer

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        host = self.headers.get("Host", "")
        self.server_state.enter(host)
        try:
            self.answer()
        finally:
            self.server_state.leave(host)

    def answer(self) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        path = parts.path
        count = state.record(path, {k.lower(): v for k, v in self.headers.items()})
        segments = path.strip("/").split("/")
        head = segments[0]
        try:
            if head in ("feeds", "lm-only"):
                self.serve_file(state.feed_dir / segments[1], etag=head == "feeds")
            elif head == "status":
                self.send(int(segments[1]), b"", "text/plain")
            elif head == "flaky":
                if count <= int(segments[2]):
                    self.send(503, b"busy", "text/plain", {"Retry-After": "0"})
                else:
                    self.send(
                        200,
                        rss([("Recovered item", "http://example.org/recovered", "ok")]).encode(),
                        "application/rss+xml",
                    )
            elif head == "slow":
                time.sleep(float(segments[1]))
                self.send(200, rss([]).encode(), "application/rss+xml")
            elif head == "loop":
                self.send(302, b"", "text/plain", {"Location": "/loop"})
            elif head == "redirect":
                self.send(302, b"", "text/plain", {"Location": parse_qs(parts.query)["to"][0]})
            elif head == "big":
                pad = "<!-- " + "x" * int(segments[1]) + " -->"
                self.send(200, rss([("Big", "http://example.org/big", pad)]).encode(), "application/rss+xml")
            elif head == "gzip-bomb":
                bomb = gzip.compress(b"\0" * (int(segments[1]) * 1024 * 1024), compresslevel=9)
                self.send(200, bomb, "application/rss+xml", {"Content-Encoding": "gzip"})
            elif head == "truncated":
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(rss([("Cut", "http://example.org/cut", "x")]).encode()[:80])
                self.wfile.flush()
                self.close_connection = True
            elif head == "reset":
                self.reset()
            elif head == "reset-body":
                body = rss([("Cut", "http://example.org/cut", "x" * 5000)]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:2000])
                self.wfile.flush()
                self.reset()
            elif head == "invalid":
                self.send(200, b"this is <<< not & xml at all", "application/xml")
            elif head == "html":
                self.send(200, b"<html><body><p>Just a web page</p></body></html>", "text/html")
            elif head == "wrong-charset":
                body = rss(
                    [("Caf\u00e9 r\u00e9sum\u00e9 na\u00efve", "http://example.org/cafe", "Cr\u00e8me")], "utf-8"
                )
                self.send(200, body.encode("windows-1252"), "application/rss+xml; charset=utf-8")
            elif head == "summary-feed":
                items = [
                    (f"Short item {n}", state.url(f"/{kind}/{n}.html"), "A one-line summary.")
                    for n, kind in ((1, "articles"), (2, "articles"), (3, "private"))
                ]
                self.send(200, rss(items).encode(), "application/rss+xml")
            elif head in ("articles", "private"):
                self.send(200, article_page(int(segments[1].split(".")[0])), "text/html; charset=utf-8")
            elif head == "robots.txt":
                self.send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
            else:
                self.send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def reset(self) -> None:
        """Close with SO_LINGER 0, so that the client sees a TCP reset rather than an orderly close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def serve_file(self, path: Path, etag: bool) -> None:
        if not path.is_file():
            self.send(404, b"no such feed", "text/plain")
            return
        body = path.read_bytes()
        tag = '"' + hashlib.sha1(body).hexdigest() + '"'
        headers = {"Last-Modified": LAST_MODIFIED}
        if etag:
            headers["ETag"] = tag
            if self.headers.get("If-None-Match") == tag:
                self.send(304, b"", None, headers)
                return
        elif self.headers.get("If-Modified-Since") == LAST_MODIFIED:
            self.send(304, b"", None, headers)
            return
        if "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.send(200, body, "application/rss+xml; charset=utf-8", headers)

    def send(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)
