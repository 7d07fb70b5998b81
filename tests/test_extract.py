"""Full text from article pages on a real loopback server; the address guard refuses private targets."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.config import FeedConfig, Settings
from pipeline.extract import FullTextExtractor, enrich_fulltext
from pipeline.feeds import poll_feeds
from pipeline.models import Article
from pipeline.netguard import AllowList, BlockedAddress, check_url, is_public
from pipeline.normalise import normalise_entry
from tests.feedserver import ARTICLE_TEXT, FeedServer


def allow_loopback(settings: Settings) -> Settings:
    return settings.model_copy(update={"fulltext": settings.fulltext.model_copy(update={"allow_hosts": ["127.0.0.1"]})})


def summary_articles(
    settings: Settings, server: FeedServer, fulltext: str = "auto"
) -> tuple[FeedConfig, list[Article]]:
    cfg = FeedConfig(id="summ", name="Summaries", url=server.url("/summary-feed"), fulltext=fulltext)
    result = poll_feeds([cfg], {}, settings)[0]
    assert result.status == "ok"
    articles = [
        normalise_entry(e, feed_id=cfg.id, source=cfg.name, language="en", fetched_at=result.fetched_at)
        for e in result.entries
    ]
    return cfg, articles


def test_fulltext_auto_extracts_main_text_when_allow_listed(settings: Settings, feed_server: FeedServer) -> None:
    settings = allow_loopback(settings)
    cfg, articles = summary_articles(settings, feed_server)
    enrich_fulltext(articles, {cfg.id: cfg}, settings)
    first, second, private = articles
    assert first.text_source == "extracted" and second.text_source == "extracted"
    assert ARTICLE_TEXT[0] in first.text and ARTICLE_TEXT[-1][:60] in first.text
    assert "Copyright" not in first.text and "Home" not in first.text  # boilerplate left out
    # robots.txt disallows /private/: the feed text is kept and the reason recorded.
    assert private.text_source == "feed" and private.text == "A one-line summary."
    assert "fulltext_failed:robots" in private.flags
    assert feed_server.hits["/robots.txt"] >= 1
    assert feed_server.hits["/private/3.html"] == 0


def test_article_url_on_loopback_is_refused_without_allow_list(settings: Settings, feed_server: FeedServer) -> None:
    cfg, articles = summary_articles(settings, feed_server)
    before = feed_server.hits["/articles/1.html"]
    enrich_fulltext(articles, {cfg.id: cfg}, settings)
    assert all(a.text_source == "feed" for a in articles)
    assert all("fulltext_failed:blocked_address" in a.flags for a in articles)
    assert feed_server.hits["/articles/1.html"] == before


def test_redirect_to_a_private_address_is_refused_on_the_hop(settings: Settings, feed_server: FeedServer) -> None:
    settings = allow_loopback(settings)
    extractor = FullTextExtractor(settings)
    url = feed_server.url("/redirect?to=http://169.254.169.254/latest/meta-data/")

    async def go() -> None:
        async with __import__("httpx").AsyncClient() as client:
            await extractor.fetch_page(client, url)

    with pytest.raises(Exception, match="blocked_address.*169.254.169.254"):
        asyncio.run(go())


def test_never_mode_and_long_feed_text_skip_fetching(settings: Settings, feed_server: FeedServer) -> None:
    settings = allow_loopback(settings)
    cfg, articles = summary_articles(settings, feed_server, fulltext="never")
    enrich_fulltext(articles, {cfg.id: cfg}, settings)
    assert all(a.text_source == "feed" and not a.flags for a in articles)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "ftp://example.org/",
    ],
)
def test_guard_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(BlockedAddress):
        asyncio.run(check_url(url, AllowList()))


def test_allow_list_by_host_and_network() -> None:
    asyncio.run(check_url("http://127.0.0.1:8080/x", AllowList(["127.0.0.0/8"])))
    asyncio.run(check_url("http://localhost/x", AllowList(["localhost"])))
    with pytest.raises(BlockedAddress):
        asyncio.run(check_url("http://10.0.0.1/", AllowList(["127.0.0.1"])))


def test_public_addresses_pass() -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address("8.8.8.8"))
    assert is_public(ipaddress.ip_address("2001:4860:4860::8888"))
    assert not is_public(ipaddress.ip_address("224.0.0.1"))
