"""Elasticsearch-only behaviour, against a real node (scripts/es-test-node or ELASTICSEARCH_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from pipeline.config import PROJECT_DIR, ElasticsearchSettings
from pipeline.models import Event
from pipeline.stores.elasticsearch import ElasticsearchStore
from tests.helpers import make


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


def test_setup_gives_an_older_index_the_fields_added_since(es: ElasticsearchStore) -> None:
    """An index made before events had frames (status, instrument, evidence) takes them on the next setup."""
    index = es.indices()[0]
    analysis = es.es.indices.get_settings(index=index)[index]["settings"]["index"]["analysis"]
    es.es.indices.delete(index=index)
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
        aliases={es.alias: {"is_write_index": True}},
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


def test_writes_during_a_reindex_are_never_lost(es: ElasticsearchStore) -> None:
    """A writer keeps adding and changing articles while the reindex copies: every one is there afterwards, in
    its last version, once."""
    list(es.upsert([make(i) for i in range(3000)]))
    written: list[int] = []
    done = threading.Event()

    def writer() -> None:
        n = 0
        while not done.is_set() or n < 20:
            new, changed = make(10_000 + n), make(n, title=f"Changed during the reindex {n}")
            list(es.upsert([new, changed]))
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
    assert es.indices() == [report["to"]]
    assert es.count() == 3000 + len(written)
    for n in written:
        assert es.get(make(10_000 + n).id) is not None
        assert es.get(make(n).id).title == f"Changed during the reindex {n}"
    # each old document is copied or, changed meanwhile, kept in its newer version (writes made before the write
    # index moved are copied too)
    assert 3000 <= report["documents"] + report["newer"] <= 3000 + 2 * len(written)


def test_single_reads_work_while_the_alias_is_on_two_indices(es: ElasticsearchStore) -> None:
    """What a reindex leaves between its steps: Elasticsearch refuses a get through an alias on two indices, so
    reads ask each index, the write index first."""
    list(es.upsert([make(1), make(2)]))
    old = es.indices()[0]
    es.es.indices.create(index=f"{es.alias}-v9")
    es.es.indices.update_aliases(
        actions=[
            {"add": {"index": old, "alias": es.alias, "is_write_index": False}},
            {"add": {"index": f"{es.alias}-v9", "alias": es.alias, "is_write_index": True}},
        ]
    )
    list(es.upsert([make(2, title="Newer"), make(3)]))
    assert es.get(make(1).id).title == "Article number 1"
    assert es.get(make(2).id).title == "Newer"
    assert set(es.seen([make(i).id for i in (1, 2, 3, 4)])) == {make(i).id for i in (1, 2, 3)}


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
