"""Elasticsearch-only behaviour, against a real node (scripts/es-test-node or ELASTICSEARCH_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from pipeline.config import PROJECT_DIR, ElasticsearchSettings, Settings
from pipeline.deadletter import DeadLetters
from pipeline.feeds import STATE_NAMESPACE
from pipeline.models import Article
from pipeline.run import run_pass
from pipeline.stores import StoreError
from pipeline.stores.elasticsearch import ElasticsearchStore
from tests.conftest import ES_NODE, es_store
from tests.feedserver import FeedServer
from tests.test_run import demo_feeds
from tests.test_store_contract import make


@pytest.fixture
def es(es_url: str) -> Iterator[ElasticsearchStore]:
    store = es_store(es_url)
    yield store
    store.drop()
    store.close()


def test_setup_is_idempotent(es: ElasticsearchStore) -> None:
    first = es.indices()
    report = es.setup()
    assert es.indices() == first == [f"{es.prefix}-articles-v1"]
    assert report["index"].startswith("exists") and report["state"] == "exists"
    template = es.es.indices.get_index_template(name=es.alias)["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [f"{es.prefix}-articles-*"]
    mapping = es.es.indices.get_mapping(index=es.alias)[first[0]]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["events"]["type"] == "nested"
    assert mapping["properties"]["country_locations"]["type"] == "geo_point"
    assert mapping["properties"]["title"]["fields"]["keyword"]["type"] == "keyword"


def test_rerun_of_a_batch_leaves_the_count_unchanged(es: ElasticsearchStore) -> None:
    docs = [make(i, countries=["MY", "US"]) for i in range(50)]
    assert {r.action for r in es.upsert(docs)} == {"created"}
    assert {r.action for r in es.upsert(docs)} == {"unchanged"}
    assert es.count() == 50
    source = es.es.get(index=es.alias, id=docs[0].id)["_source"]
    assert source["country_locations"] == [{"lat": 2.5, "lon": 112.5}, {"lat": 38.0, "lon": -97.0}]


def test_search_highlights(es: ElasticsearchStore) -> None:
    list(es.upsert([make(1, title="Malaysia and Thailand sign MoU", text="Counter-terrorism cooperation.")]))
    hits = es.search("thailand")
    assert hits and any("<em>Thailand</em>" in h for h in hits[0].highlights)


def test_reindex_swaps_the_alias_and_keeps_every_document(es: ElasticsearchStore) -> None:
    list(es.upsert([make(i) for i in range(30)]))
    report = es.reindex(delete_old=True)
    assert report["to"] == f"{es.prefix}-articles-v2" and report["documents"] == 30
    assert es.indices() == [f"{es.prefix}-articles-v2"]
    assert es.count() == 30 and es.get(make(3).id).title == "Article number 3"
    list(es.upsert([make(99)]))
    assert es.count() == 31


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


def node(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSWATCH_ES_STATE": str(state)}
    return subprocess.run([str(ES_NODE), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(bool(os.environ.get("ELASTICSEARCH_URL")), reason="needs a node this test can stop (not ELASTICSEARCH_URL)")
def test_node_stopped_mid_run_fails_loudly_and_a_rerun_stores_everything_once(
    settings: Settings, feed_server: FeedServer, tmp_path: Path, es_url: str
) -> None:
    state = tmp_path / "node.json"
    started = node("start", state=state)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    try:
        store = ElasticsearchStore.from_settings(ElasticsearchSettings(url=url, index_prefix="midrun", max_retries=1))

        def stop_node(articles: Iterable[Article]) -> Iterator[Article]:
            for i, article in enumerate(articles):
                if i == 10:
                    stopped = node("stop", "--keep-data", state=state)
                    assert stopped.returncode == 0, stopped.stderr
                yield article

        with pytest.raises(StoreError, match="unreachable|not reachable"):
            run_pass(settings, demo_feeds(feed_server), store, tag=stop_node)
        restarted = node("start", state=state)
        assert restarted.returncode == 0, restarted.stderr
        assert store.state_items(STATE_NAMESPACE) == {}  # no feed was marked as fetched
        rerun = run_pass(settings, demo_feeds(feed_server), store)
        assert rerun.stored == 27 and store.count() == 27
        assert run_pass(settings, demo_feeds(feed_server), store).stored == 0 and store.count() == 27
        store.close()
    finally:
        node("stop", state=state)


def test_cli_runs_the_pass_against_elasticsearch_and_never_prints_secrets(es_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "ELASTICSEARCH_"))}
    secret = "s3cr3t-pa55word-for-test"
    env.update(
        NEWSWATCH_HOME=str(tmp_path), NEWSWATCH_STORE="elasticsearch", ELASTICSEARCH_URL=es_url,
        NEWSWATCH_ELASTICSEARCH__INDEX_PREFIX="clirun", ELASTICSEARCH_API_KEY=secret,
    )
    demo = str(PROJECT_DIR / "config" / "feeds.demo.yaml")
    cmd = [sys.executable, "-m", "pipeline", "-vv", "run", "--feeds", demo, "--tagging", "fast"]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "elasticsearch http://127.0.0.1" in result.stdout or es_url in result.stdout
        assert secret not in result.stdout + result.stderr
        stats = subprocess.run([sys.executable, "-m", "pipeline", "stats", "--json"], capture_output=True, text=True,
                               env=env, timeout=120)
        assert '"articles": 27' in stats.stdout and secret not in stats.stdout + stats.stderr
    finally:
        leftover = ElasticsearchStore.from_settings(ElasticsearchSettings(url=es_url, index_prefix="clirun"), setup=False)
        leftover.drop()
        leftover.close()
