"""`python -m bench.feedhost FOLDER [--live]`: serve the feed files of FOLDER on 127.0.0.1 (HTTP/1.1 keep-alive,
ETag and Last-Modified, 304 on a matching conditional GET) in a process of its own, so that the server and the
client being measured do not share one interpreter. Prints the port, then serves until killed.

Without --live the files are read once, at start. With --live each request reads the file as it is now, and a
file NAME.status beside NAME (holding an HTTP status such as 503) makes NAME answer with that status instead:
the load benchmark changes feeds and takes them down between cycles that way.

With --hosts N the same files are served on N loopback addresses (127.0.0.1 to 127.0.0.N, one port), which
Newswatch sees as N publishers: the scale run spreads its feeds over them. With --delay S every answer takes S
seconds more, as a distant publisher's would. The host counts the requests in flight per address; GET /_peaks
answers the highest count each address has seen, as JSON (the scale run checks the per-host limit with it)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Lock, Thread

LAST_MODIFIED = formatdate(1_790_000_000, usegmt=True)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def address(host: int) -> str:
    """The loopback address of host number `host` (0: 127.0.0.1)."""
    return str(ipaddress.IPv4Address("127.0.0.1") + host)


def serve(folder: Path, live: bool = False, hosts: int = 1, delay: float = 0.0) -> None:
    files = {} if live else {f"/{p.name}": p.read_bytes() for p in folder.iterdir() if p.is_file()}
    etags = {path: _etag(body) for path, body in files.items()}
    lock, in_flight, peaks = Lock(), Counter[str](), Counter[str]()

    def current(path: str) -> tuple[int, bytes | None, str]:
        """(status, body, etag) of a path now."""
        if not live:
            body = files.get(path)
            return (404, None, "") if body is None else (200, body, etags[path])
        target = folder / path.lstrip("/")
        if "/" in path.lstrip("/") or not target.is_file():
            return 404, None, ""
        status_file = target.with_name(target.name + ".status")
        if status_file.exists():
            return int(status_file.read_text().strip() or 503), None, ""
        body = target.read_bytes()
        return 200, body, _etag(body)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/_peaks":
                with lock:
                    self.answer(200, json.dumps(peaks).encode(), "application/json")
                return
            where = self.server.server_address[0]
            with lock:
                in_flight[where] += 1
                peaks[where] = max(peaks[where], in_flight[where])
            try:
                time.sleep(delay)
                self.feed()
            finally:
                with lock:
                    in_flight[where] -= 1

        def answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def feed(self) -> None:
            status, body, etag = current(self.path)
            if body is None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        # The default listen backlog of 5 drops SYNs when the client opens its 16 connections at once, and
        # each dropped SYN costs a 1 s retransmit: a benchmark of the server's backlog, not of the client.
        request_queue_size = 256
        daemon_threads = True

    first = Server(("127.0.0.1", 0), Handler)
    port = first.server_address[1]
    for host in range(1, hosts):
        Thread(target=Server((address(host), port), Handler).serve_forever, daemon=True).start()
    print(port, flush=True)
    first.serve_forever()


class FeedHost:
    """The server above as a child process: `with FeedHost(folder) as host: host.url("feed.xml")`."""

    def __init__(self, folder: Path, live: bool = False, hosts: int = 1, delay: float = 0.0) -> None:
        self.folder = folder
        self.live = live
        self.hosts = hosts
        self.delay = delay
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> FeedHost:
        command = [sys.executable, "-m", "bench.feedhost", str(self.folder), "--hosts", str(self.hosts)]
        command += ["--delay", str(self.delay)]
        command += ["--live"] if self.live else []
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process:
            self.process.kill()
            self.process.wait()

    def url(self, name: str, host: int = 0) -> str:
        return f"http://{address(host)}:{self.port}/{name}"

    def peaks(self) -> dict[str, int]:
        """The most requests each address has had in flight at once."""
        with urllib.request.urlopen(self.url("_peaks"), timeout=10) as response:
            return json.load(response)


if __name__ == "__main__":
    args = sys.argv[2:]
    hosts = int(args[args.index("--hosts") + 1]) if "--hosts" in args else 1
    delay = float(args[args.index("--delay") + 1]) if "--delay" in args else 0.0
    serve(Path(sys.argv[1]), live="--live" in args, hosts=hosts, delay=delay)
