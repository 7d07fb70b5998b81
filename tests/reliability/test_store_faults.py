"""The Elasticsearch half of the fault matrix, against real nodes: a document the mapping refuses, an index
with a write block (an operator's maintenance, a snapshot restore), and the node stopped while the pass is
writing, then restarted. Nothing is lost, nothing is stored twice, and the alert goes out exactly once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from pipeline.alerts import run_alerts
from pipeline.config import PROJECT_DIR, ElasticsearchSettings, Settings
from pipeline.deadletter import DeadLetters
from pipeline.feeds import STATE_NAMESPACE
from pipeline.models import Article
from pipeline.run import RunSummary, run_pass
from pipeline.stores import Store, StoreError
from pipeline.stores.elasticsearch import ElasticsearchStore
from pipeline.tagging import get_tagger
from tests.conftest import ES_NODE
from tests.feedserver import FeedServer
from tests.helpers import demo_feeds, with_smtp
from tests.smtpserver import SmtpServer

DEMO_ARTICLES = 27
PAK_US = "Cooperation emphasised: Pak-US antiterrorism dialogue concludes"


def tag(articles: Iterable[Article]) -> Iterable[Article]:
    return get_tagger("fast", str(PROJECT_DIR / "config")).tag(articles)


def pass_then_alerts(settings: Settings, server: FeedServer, store: Store, tag, smtp: SmtpServer) -> RunSummary:
    """What `newswatch run` and the DAGs do: the pass, then the alerts job on the same store."""
    summary = run_pass(settings, demo_feeds(server), store, tag=tag)
    run_alerts(store, with_smtp(settings, smtp.port))
    return summary


def corrupt(marker: str):
    """A tag stage that gives one article a value the strict mapping refuses (relevance must be a float).
    The fault is ours on purpose; the rejection is the real node's."""

    def stage(articles: Iterable[Article]) -> Iterator[Article]:
        for article in articles:
            if marker in article.title:
                article.__dict__["relevance"] = "very high"
            yield article

    return stage


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_rejected_document_is_dead_lettered_and_the_rest_indexed(
    settings: Settings, feed_server: FeedServer, es: ElasticsearchStore
) -> None:
    summary = run_pass(settings, demo_feeds(feed_server), es, tag=corrupt("Ringgit"))
    assert summary.store_errors == 1 and summary.stored == 26 and es.count() == 26
    letter = DeadLetters(settings.deadletter_dir).read("store")[0]
    assert "document_parsing_exception" in letter["reason"] or "mapper_parsing_exception" in letter["reason"]
    assert letter["payload"]["title"].startswith("Ringgit")
    # The feed that lost a document keeps its old validators: the next pass fetches it again and stores it.
    again = run_pass(settings, demo_feeds(feed_server), es)
    assert again.stored == 1 and es.count() == 27


def test_write_blocked_index_rejects_every_document_then_a_rerun_stores_them_once(
    settings: Settings, feed_server: FeedServer, es: ElasticsearchStore, smtp: SmtpServer
) -> None:
    """A write block makes the node refuse every document (403 per item, not retried). (The disk flood stage's
    read_only_allow_delete block answers 429 instead, which the bulk helper retries with backoff, and the node
    lifts it itself once disk is free.) The block is on every article index, the months the pass creates too (a
    template of higher priority adds it)."""
    stored = es.es.indices.get_index_template(name=es.alias)["index_templates"][0]["index_template"]
    blocked_template = {k: stored[k] for k in ("index_patterns", "template", "priority")}
    blocked_template["template"]["settings"]["blocks"] = {"write": True}
    blocked_template["priority"] += 1
    es.es.indices.put_index_template(name=f"{es.alias}-blocked", **blocked_template)
    es.es.indices.put_settings(index=es.alias, settings={"index.blocks.write": True})
    try:
        blocked = pass_then_alerts(settings, feed_server, es, tag, smtp)
    finally:
        es.es.indices.delete_index_template(name=f"{es.alias}-blocked")
        es.es.indices.put_settings(index=es.alias, settings={"index.blocks.write": None})
    assert blocked.stored == 0 and blocked.store_errors == DEMO_ARTICLES and es.count() == 0
    letters = DeadLetters(settings.deadletter_dir).read("store")
    assert len(letters) == DEMO_ARTICLES and all("cluster_block_exception" in x["reason"] for x in letters)
    assert all(not s.get("etag") for s in es.state_items(STATE_NAMESPACE).values())  # every feed is fetched again
    assert smtp.messages == []

    rerun = pass_then_alerts(settings, feed_server, es, tag, smtp)
    assert rerun.stored == DEMO_ARTICLES == es.count()
    assert [m["Subject"] for m in smtp.messages if "Thailand" in m["Subject"]], [m["Subject"] for m in smtp.messages]
    sent = len(smtp.messages)
    assert pass_then_alerts(settings, feed_server, es, tag, smtp).stored == 0
    assert len(smtp.messages) == sent


def node(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSWATCH_ES_STATE": str(state)}
    return subprocess.run([str(ES_NODE), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(
    bool(os.environ.get("ELASTICSEARCH_URL")), reason="needs a node this test can stop (not ELASTICSEARCH_URL)"
)
def test_node_stopped_mid_run_fails_loudly_and_a_rerun_stores_everything_and_alerts_once(
    settings: Settings, feed_server: FeedServer, tmp_path: Path, es_url: str, smtp: SmtpServer
) -> None:
    """A second node of our own (scripts/es-test-node with another state file), stopped while the pass is
    writing: the bulk write after the stop finds no node."""
    state = tmp_path / "node.json"
    started = node("start", state=state)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    try:
        store: Store = ElasticsearchStore.from_settings(
            ElasticsearchSettings(url=url, index_prefix="midrun", max_retries=1, settle_seconds=0)
        )

        def stop_node(articles: Iterable[Article]) -> Iterator[Article]:
            for i, article in enumerate(tag(articles)):
                if i == 10:
                    stopped = node("stop", "--keep-data", state=state)
                    assert stopped.returncode == 0, stopped.stderr
                yield article

        with pytest.raises(StoreError, match="unreachable|not reachable"):
            pass_then_alerts(settings, feed_server, store, stop_node, smtp)
        restarted = node("start", state=state)
        assert restarted.returncode == 0, restarted.stderr
        assert store.state_items(STATE_NAMESPACE) == {}  # no feed was marked as fetched
        assert smtp.messages == []
        rerun = pass_then_alerts(settings, feed_server, store, tag, smtp)
        assert rerun.stored == DEMO_ARTICLES and store.count() == DEMO_ARTICLES
        assert store.query(limit=None) and any(a.title == PAK_US for a in store.query(limit=None))
        sent = [m["Subject"] for m in smtp.messages]
        assert sent and len(set(sent)) == len(sent)
        again = pass_then_alerts(settings, feed_server, store, tag, smtp)
        assert again.stored == 0 and store.count() == DEMO_ARTICLES and len(smtp.messages) == len(sent)
        store.close()
    finally:
        node("stop", state=state)
