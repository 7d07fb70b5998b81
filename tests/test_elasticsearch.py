"""Elasticsearch-only behaviour, against a real node (scripts/es-test-node or ELASTICSEARCH_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import PROJECT_DIR, ElasticsearchSettings
from pipeline.models import Article, Event
from pipeline.stores.elasticsearch import ElasticsearchStore, months_before
from tests.helpers import STORE_T0, make


def test_setup_is_idempotent(es: ElasticsearchStore) -> None:
    first = es.indices()
    report = es.setup()
    assert es.indices() == first and len(first) == 1 and es.monthly.match(first[0])[2] == "1"
    assert report["index"].startswith("exists") and report["state"] == "exists"
    template = es.es.indices.get_index_template(name=es.alias)["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [f"{es.prefix}-articles-*"]
    mapping = es.es.indices.get_mapping(index=es.alias)[first[0]]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["events"]["type"] == "nested"
    assert mapping["properties"]["country_locations"]["type"] == "geo_point"
    assert mapping["properties"]["title"]["fields"]["keyword"]["type"] == "keyword"


def test_every_index_keeps_the_replicas_of_the_settings(es: ElasticsearchStore) -> None:
    """Months, state and views alike: the state index holds the feeds' ETags and the alert ledger, so on a
    cluster it must survive a node as the articles do. A changed setting reaches existing indices on setup."""
    es.upsert([make(1)])
    for replicas in (1, 0):
        changed = ElasticsearchStore.from_settings(es.settings.model_copy(update={"replicas": replicas}))
        indices = changed.es.indices.get_settings(index=f"{es.prefix}-*", name="index.number_of_replicas")
        assert len(indices) >= 4  # a month, the state index and the two views
        assert {name: v["settings"]["index"]["number_of_replicas"] for name, v in indices.items()} == dict.fromkeys(
            indices, str(replicas)
        )
        changed.close()


def test_setup_gives_an_older_index_the_fields_added_since(es: ElasticsearchStore) -> None:
    """An index made before events had frames (status, instrument, evidence) takes them on the next setup."""
    index = f"{es.alias}-2026.11-v1"  # the month of the article below
    analysis = es.es.indices.get_settings(index=es.indices()[0])[es.indices()[0]]["settings"]["index"]["analysis"]
    old = es.template_body()["template"]
    events = old["mappings"]["properties"]["events"]["properties"]
    for field in ("status", "instrument", "evidence"):
        del events[field]
    del old["mappings"]["properties"]["speaks_for"]
    es.es.indices.delete_index_template(name=es.alias)
    es.es.indices.create(
        index=index,
        mappings=old["mappings"],
        settings={"analysis": analysis},
        aliases={es.alias: {}, f"{es.alias}-2026.11": {"is_write_index": True}},
    )
    framed = make(
        1,
        countries=["MY", "US"],
        speaks_for="US",
        events=[Event(type="dialogue", parties=["MY", "US"], sentence="s", trigger="met", status="held")],
    )
    assert [r.ok for r in es.upsert([framed])] == [False]  # the strict mapping refuses the new fields
    report = es.setup()
    assert report["mapping"] == "up to date with the template"
    assert [r.ok for r in es.upsert([framed])] == [True]
    mapping = es.es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping["events"]["properties"]["status"]["type"] == "keyword"


def test_rerun_of_a_batch_leaves_the_count_unchanged(es: ElasticsearchStore) -> None:
    docs = [make(i, countries=["MY", "US"]) for i in range(50)]
    assert {r.action for r in es.upsert(docs)} == {"created"}
    assert {r.action for r in es.upsert(docs)} == {"unchanged"}
    assert es.count() == 50
    source = es.es.get(index=es.alias_for(docs[0]), id=docs[0].id)["_source"]
    assert source["country_locations"] == [{"lat": 2.5, "lon": 112.5}, {"lat": 38.0, "lon": -97.0}]


def test_search_highlights(es: ElasticsearchStore) -> None:
    list(es.upsert([make(1, title="Malaysia and Thailand sign MoU", text="Counter-terrorism cooperation.")]))
    hits = es.search("thailand")
    assert hits and any("<em>Thailand</em>" in h for h in hits[0].highlights)


def months_back(n: int, k: int) -> Article:
    """Article n, published k months (of 30 days) before the store tests' epoch: filed under that month."""
    return make(n, published_at=STORE_T0 - timedelta(days=30 * k))


def test_articles_are_filed_under_the_month_they_were_published_in(es: ElasticsearchStore) -> None:
    list(es.upsert([months_back(n, n % 3) for n in range(9)]))
    months = {es.monthly.match(i)[1] for i in es.indices()}
    assert {"2026.11", "2026.09", "2026.10"} <= months
    by_index = es.es.search(index=es.alias, size=0, aggs={"i": {"terms": {"field": "_index"}}})["aggregations"]
    assert sorted(b["doc_count"] for b in by_index["i"]["buckets"]) == [3, 3, 3]
    # a later version stays in its month even when its feed now dates it otherwise
    list(es.upsert([make(0, title="Redated", published_at=STORE_T0 - timedelta(days=200))]))
    assert es.count() == 9 and es.get(make(0).id).title == "Redated"
    # a feed dating an article after it was fetched (a wrong clock) files it under the fetch's month
    list(es.upsert([make(50, published_at=STORE_T0 + timedelta(days=400))]))
    assert not any("2027" in i for i in es.indices())


def test_reindex_swaps_the_alias_and_keeps_every_document(es: ElasticsearchStore) -> None:
    list(es.upsert([months_back(i, i % 3) for i in range(30)]))
    before = es.indices()
    report = es.reindex(delete_old=True)
    assert report["documents"] == 30 and report["from"] == before
    assert es.indices() == report["to"] == [i.replace("-v1", "-v2") for i in before]
    assert es.count() == 30 and es.get(make(3).id).title == "Article number 3"
    list(es.upsert([make(99)]))
    assert es.count() == 31 and es.es.indices.exists(index=f"{es.alias}-2026.11-v2")


def test_writes_during_a_reindex_are_never_lost(es: ElasticsearchStore) -> None:
    """A writer keeps adding and changing articles of several months while the reindex copies: every one is
    there afterwards, in its last version, once."""
    published = {n: STORE_T0 - timedelta(hours=n) for n in range(3000)}  # 4 months back
    list(es.upsert([make(i, published_at=published[i]) for i in range(3000)]))
    written: list[int] = []
    done = threading.Event()

    def writer() -> None:
        n = 0
        while not done.is_set() or n < 20:
            changed = make(n * 7, title=f"Changed during the reindex {n}", published_at=published[n * 7])
            list(es.upsert([make(10_000 + n), changed]))
            written.append(n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        report = es.reindex(delete_old=True)
    finally:
        done.set()
        thread.join(timeout=120)
    es.es.indices.refresh(index=es.alias)
    assert len(report["to"]) >= 5 and es.indices() == report["to"]
    assert es.count() == 3000 + len(written)
    for n in written:
        assert es.get(make(10_000 + n).id) is not None
        assert es.get(make(n * 7).id).title == f"Changed during the reindex {n}"
    # each old document is copied or, changed meanwhile, kept in its newer version (writes made before the write
    # index moved are copied too)
    assert 3000 <= report["documents"] + report["newer"] <= 3000 + 2 * len(written)


def test_single_reads_take_the_newer_copy_while_a_month_is_on_two_indices(es: ElasticsearchStore) -> None:
    """What a reindex leaves between its steps: a month's alias on its old and new versions; reads find the
    article in either, the copy indexed last when it is in both."""
    list(es.upsert([make(1), make(2)]))
    month = f"{es.alias}-2026.11"
    old = f"{month}-v1"
    es.es.indices.create(index=f"{month}-v9")
    es.es.indices.update_aliases(
        actions=[
            {"add": {"index": old, "alias": month, "is_write_index": False}},
            {"add": {"index": f"{month}-v9", "alias": month, "is_write_index": True}},
        ]
    )
    es.es.index(index=f"{month}-v9", id=make(2).id, document=es.es.get(index=old, id=make(2).id)["_source"])
    list(es.upsert([make(2, title="Newer"), make(3)]))
    assert es.es.get(index=f"{month}-v9", id=make(3).id)["found"]  # written where the month's alias writes
    assert es.get(make(1).id).title == "Article number 1"
    assert es.get(make(2).id).title == "Newer"
    assert set(es.seen([make(i).id for i in (1, 2, 3, 4)])) == {make(i).id for i in (1, 2, 3)}


def test_an_index_from_before_monthly_indices_is_read_moved_from_and_spread_by_reindex(
    es: ElasticsearchStore,
) -> None:
    """An existing deployment's `<prefix>-articles-v1`: its articles are read as before; one that changes moves
    to its month (never two copies); `es reindex` spreads the rest into months and prune leaves it alone."""
    legacy = f"{es.alias}-v1"
    es.es.indices.create(index=legacy, aliases={es.alias: {"is_write_index": True}})
    now = datetime.now(UTC)
    docs = [months_back(n, n % 2) for n in range(6)]
    for doc in docs:
        es.es.index(index=legacy, id=doc.id, document=json.loads(es.source_json(doc, now)), refresh=True)
    assert es.count() == 6 and es.get(docs[4].id).title == "Article number 4"
    assert {r.action for r in es.upsert(docs)} == {"unchanged"}
    changed = docs[4].model_copy(update={"title": "New", "content_hash": "x"})
    assert [r.action for r in es.upsert([changed])] == ["updated"]
    assert es.count() == 6 and es.get(docs[4].id).title == "New"
    assert es.prune("2099.01", dry_run=True)["not_monthly"] == [legacy]
    report = es.reindex(delete_old=True)
    assert legacy in report["from"] and all(es.monthly.match(i) for i in es.indices())
    assert es.count() == 6 and report["documents"] == 6 and es.get(docs[4].id).title == "New"


def test_prune_drops_old_months_only(es: ElasticsearchStore) -> None:
    list(es.upsert([months_back(n, n % 4) for n in range(12)]))  # 2026.11 back to 2026.08
    kept_from = months_before("2026-10", datetime.now(UTC))
    dry = es.prune(kept_from, dry_run=True)
    assert [es.monthly.match(i)[1] for i in dry["deleted"]] == ["2026.08", "2026.09"] and es.count() == 12
    report = es.prune(kept_from)
    assert report["deleted"] == dry["deleted"] and es.count() == 6
    assert {es.monthly.match(i)[1] for i in es.indices()} >= {"2026.10", "2026.11"}
    list(es.upsert([months_back(100, 0)]))  # writing goes on into the months kept
    assert es.count() == 7


def test_prune_command_dry_run_then_delete(es: ElasticsearchStore, es_url: str, tmp_path: Path) -> None:
    list(es.upsert([months_back(n, n % 3) for n in range(6)]))  # 2026.11, 2026.10, 2026.09
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "ELASTICSEARCH_"))}
    env.update(NEWSWATCH_HOME=str(tmp_path), ELASTICSEARCH_URL=es_url, NEWSWATCH_ELASTICSEARCH__INDEX_PREFIX=es.prefix)

    def prune(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pipeline", "es", "prune", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)

    bad = prune("--older-than", "soon")
    assert bad.returncode == 2 and "90d" in bad.stderr
    dry = prune("--older-than", "2026-10", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["deleted"] == [f"{es.alias}-2026.09-v1"]
    assert es.count() == 6
    done = prune("--older-than", "2026-10")
    assert done.returncode == 0 and f"{es.alias}-2026.09-v1" in done.stdout and es.count() == 4


def test_months_before_reads_a_month_or_an_age() -> None:
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert months_before("2025-06", now) == "2025.06"
    assert months_before("18m", now) == "2025.06"
    assert months_before("2y", now) == "2024.12"
    assert months_before("90d", now) == "2026.09"
    assert months_before("1w", now) == "2026.11"
    for bad in ("2025-13", "ten days", "5h", ""):
        with pytest.raises(ValueError):
            months_before(bad, now)


def test_cli_runs_the_pass_against_elasticsearch_and_never_prints_secrets(es_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "ELASTICSEARCH_"))}
    secret = "s3cr3t-pa55word-for-test"
    env.update(
        NEWSWATCH_HOME=str(tmp_path),
        NEWSWATCH_STORE="elasticsearch",
        ELASTICSEARCH_URL=es_url,
        NEWSWATCH_ELASTICSEARCH__INDEX_PREFIX="clirun",
        NEWSWATCH_ELASTICSEARCH__SETTLE_SECONDS="3",  # the run waits this out before its alerts job
        ELASTICSEARCH_API_KEY=secret,
    )
    demo = str(PROJECT_DIR / "config" / "feeds.demo.yaml")
    cmd = [sys.executable, "-m", "pipeline", "-vv", "run", "--feeds", demo, "--tagging", "fast"]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "elasticsearch http://127.0.0.1" in result.stdout or es_url in result.stdout
        assert "for the last writes to settle before the alerts job" in result.stderr
        assert "2 sent to outbox" in result.stdout  # the pass's articles were evaluated once settled
        assert secret not in result.stdout + result.stderr
        stats = subprocess.run(
            [sys.executable, "-m", "pipeline", "stats", "--json"], capture_output=True, text=True, env=env, timeout=120
        )
        assert '"articles": 27' in stats.stdout and secret not in stats.stdout + stats.stderr
    finally:
        leftover = ElasticsearchStore.from_settings(
            ElasticsearchSettings(url=es_url, index_prefix="clirun"), setup=False
        )
        leftover.drop()
        leftover.close()
