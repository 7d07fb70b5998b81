"""Security: the address guard for article pages (after DNS, at connect time, on every hop), size and
decompression limits on pages, XML entity expansion and external entities in feeds, and secrets that never
reach the output or the logs of `newswatch`."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import AuthResult

from pipeline import netguard
from pipeline.config import PROJECT_DIR, FeedConfig, Settings
from pipeline.extract import FetchRefused, FullTextExtractor
from pipeline.feeds import FeedError, _Body, parse_feed
from pipeline.httpclient import make_client
from pipeline.netguard import AllowList, BlockedAddress
from pipeline.run import run_pass
from pipeline.stores import open_store
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer, start

DEMO = str(PROJECT_DIR / "config" / "feeds.demo.yaml")


def no_robots(settings: Settings, allow: list[str] | None = None) -> Settings:
    fulltext = settings.fulltext.model_copy(update={"respect_robots": False, "allow_hosts": allow or []})
    return settings.model_copy(update={"fulltext": fulltext})


def fetch_page(settings: Settings, url: str) -> tuple[bytes, str]:
    extractor = FullTextExtractor(settings)

    async def go() -> tuple[bytes, str]:
        async with make_client(settings, follow_redirects=False, guard=extractor.allow) as client:
            return await extractor.fetch_page(client, url)

    return asyncio.run(go())


# The address guard ------------------------------------------------------------------------------------------


def test_the_guard_is_applied_when_connecting_not_only_before(settings: Settings, feed_server: FeedServer) -> None:
    """A client made with the guard refuses a loopback name by itself, without the pre-check."""
    before = feed_server.hits["/articles/1.html"]

    async def go() -> None:
        async with make_client(settings, follow_redirects=True, guard=AllowList()) as client:
            await client.get(f"http://localhost:{feed_server.port}/articles/1.html")

    with pytest.raises(BlockedAddress, match="non-public address"):
        asyncio.run(go())
    assert feed_server.hits["/articles/1.html"] == before


def test_dns_rebinding_cannot_reach_a_private_address(
    settings: Settings, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a public address when checked and to loopback when connected to. There is no DNS
    server here to rebind a name on demand, so the resolver is replaced, and says so: the first answer is
    public, every later one is 127.0.0.1."""
    answers: list[str] = []
    real_resolve = netguard.resolve

    async def rebinding(host: str, port: int) -> list[netguard.IPAddress]:
        if host != "rebind.example":
            return await real_resolve(host, port)
        answers.append("public" if not answers else "loopback")
        return [ipaddress.ip_address("93.184.216.34" if len(answers) == 1 else "127.0.0.1")]

    monkeypatch.setattr(netguard, "resolve", rebinding)
    before = sum(feed_server.hits.values())
    with pytest.raises(FetchRefused, match="blocked_address.*127.0.0.1"):
        fetch_page(no_robots(settings), f"http://rebind.example:{feed_server.port}/articles/1.html")
    assert answers == ["public", "loopback"] and sum(feed_server.hits.values()) == before


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
def test_every_redirect_hop_is_checked(settings: Settings, feed_server: FeedServer, target: str) -> None:
    """The feed server is allow-listed by its name only (localhost); where it redirects to is checked again,
    decimal and hex spellings of loopback included."""
    settings = no_robots(settings, allow=["localhost"])
    with pytest.raises(FetchRefused, match="blocked_address"):
        fetch_page(settings, f"http://localhost:{feed_server.port}/redirect?to={target}")


@pytest.mark.parametrize("path", ["/big/3000000", "/gzip-bomb/64"])
def test_article_pages_are_cut_at_the_size_limit(settings: Settings, feed_server: FeedServer, path: str) -> None:
    """(Memory is not measured here: the server runs in this process and builds the 64 MB bomb itself.)"""
    with pytest.raises(FetchRefused, match=r"too_large: body (of \d+ bytes )?exceeds the limit of 1048576"):
        fetch_page(no_robots(settings, allow=["127.0.0.1"]), feed_server.url(path))


# XML ----------------------------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol0 "lollollollollollollollollollol">\n'
    + "\n".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + '\n]>\n<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title><link>https://e.org/1</link>'
    "<description>&lol9;&lol9;</description></item></channel></rss>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
    '<!ENTITY remote SYSTEM "http://169.254.169.254/latest/meta-data/">]>\n'
    '<rss version="2.0"><channel><title>t</title><item><title>x &xxe; y</title><link>https://e.org/1</link>'
    "<description>&xxe; &remote;</description></item></channel></rss>"
)


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entities_neither_expand_nor_read_files(document: str) -> None:
    tracemalloc.start()
    try:
        try:
            entries, _ = parse_feed(_Body(document.encode(), 200, "application/rss+xml", "https://e.org/f", None, None))
        except FeedError:
            entries = []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{peak / 1e6:.0f} MB to parse a 1 KB document"
    text = " ".join(str(e.get(k, "")) for e in entries for k in ("title", "summary"))
    assert len(text) < 2000 and "root:" not in text


def test_hostile_xml_through_the_pass(settings: Settings, tmp_path: Path) -> None:
    """Both documents as feeds of a real pass: nothing expanded or read is stored."""
    for name, document in (("laughs.xml", BILLION_LAUGHS), ("xxe.xml", EXTERNAL_ENTITY)):
        (tmp_path / name).write_text(document)
    feeds = [FeedConfig(id=n.split(".")[0], name=n, url=str(tmp_path / n)) for n in ("laughs.xml", "xxe.xml")]
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        summary = run_pass(settings, feeds, store)
        assert summary.feeds_ok + summary.feeds_failed == 2
        for article in store.query(limit=None):
            assert len(article.text) < 2000 and "root:" not in article.text + article.title


# Secrets -----------------------------------------------------------------------------------------------------


def newswatch(*args: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "-vv", *args], capture_output=True, text=True, env=env, timeout=300
    )
    return done.returncode, done.stdout + done.stderr


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "ELASTICSEARCH_", "KIBANA_"))}
    env.update(NEWSWATCH_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return env


def forms_of(secret: str) -> list[str]:
    """The secret and the ways it travels (base64 in HTTP Basic and SMTP AUTH PLAIN/LOGIN)."""
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"\0newswatch\0{secret}".encode()).decode(),
        base64.b64encode(f"elastic:{secret}".encode()).decode(),
    ]


def test_elasticsearch_credentials_never_in_output_or_logs(tmp_path: Path, es_url: str) -> None:
    secret = "Es-Pa55word-in-url-7f3a"
    env = clean_env(tmp_path)
    closed = httpx.URL(es_url).copy_with(port=9, username="elastic", password=secret)
    env.update(NEWSWATCH_STORE="elasticsearch", ELASTICSEARCH_URL=str(closed), NEWSWATCH_ELASTICSEARCH__MAX_RETRIES="0")
    code, output = newswatch("stats", env=env)
    assert code != 0 and "not reachable" in output
    live = httpx.URL(es_url).copy_with(username="elastic", password=secret)
    env.update(
        ELASTICSEARCH_URL=str(live), ELASTICSEARCH_PASSWORD=secret, NEWSWATCH_ELASTICSEARCH__INDEX_PREFIX="secrets"
    )
    code2, output2 = newswatch("es", "setup", env=env)
    log_files = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    for form in forms_of(secret):
        assert form not in output + output2 + log_files, f"secret ({form}) leaked:\n{output}\n{output2}"
    assert code2 == 0, output2


class RefusingLogin(SmtpServer):
    """aiosmtpd offering AUTH on a plain connection and refusing every login (a wrong password)."""

    def __init__(self) -> None:
        super().__init__(auth_require_tls=False, authenticator=lambda *args: AuthResult(success=False, handled=False))


def test_smtp_password_never_in_output_or_logs(tmp_path: Path, feed_server: FeedServer) -> None:
    secret = "Smtp-Pa55word-9b1c"
    server = start(RefusingLogin())
    try:
        env = clean_env(tmp_path)
        env.update(
            NEWSWATCH_SMTP__HOST="127.0.0.1",
            NEWSWATCH_SMTP__PORT=str(server.port),
            NEWSWATCH_SMTP__SECURITY="none",
            NEWSWATCH_SMTP__USERNAME="newswatch",
            NEWSWATCH_SMTP__PASSWORD=secret,
        )
        code, output = newswatch("run", "--feeds", DEMO, "--tagging", "fast", env=env)
        listing_code, listing = newswatch("alerts", "list", env=env)
    finally:
        server.stop()
    assert code == 3 and "SMTPAuthenticationError" in output, output[-3000:]  # the alert kept pending, with its reason
    assert listing_code == 0 and "pending" in listing
    stored = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".db")
    for form in forms_of(secret):
        assert form not in output + listing + stored, f"secret ({form}) leaked"
    assert server.messages == []
