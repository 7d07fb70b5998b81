"""Store throughput: SQLite upsert docs/s, and the Elasticsearch store's upsert against raw
`helpers.bulk` of the same documents into the same node, in the same run."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elasticsearch import helpers

from bench.tagging import sample_corpus
from pipeline.config import PROJECT_DIR, ElasticsearchSettings
from pipeline.models import Article
from pipeline.stores.elasticsearch import ElasticsearchStore
from pipeline.stores.sqlite import SQLiteStore
from pipeline.tagging import Tagger

ES_NODE = PROJECT_DIR / "scripts" / "es-test-node"


def es_url() -> str:
    if os.environ.get("ELASTICSEARCH_URL"):
        return os.environ["ELASTICSEARCH_URL"]
    result = subprocess.run([str(ES_NODE), "start"], capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def disk_per_article(store: ElasticsearchStore, corpus: list[Article]) -> dict[str, float]:
    """What an article costs on disk (one copy, no replica): the indexed bytes per document after a merge to one
    segment, next to the JSON source the store sends (the capacity model of docs/scale.md starts from these)."""
    store.es.indices.forcemerge(index=store.alias, max_num_segments=1)
    store.es.indices.refresh(index=store.alias)
    primaries = store.es.indices.stats(index=store.alias, metric="store,docs")["_all"]["primaries"]
    now = datetime.now(UTC)
    source = statistics.mean(len(store.source_json(a, now).encode()) for a in corpus)
    return {
        "es_bytes_per_article": round(primaries["store"]["size_in_bytes"] / primaries["docs"]["count"]),
        "es_source_bytes_per_article": round(source),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = list(Tagger("fast", str(PROJECT_DIR / "config")).tag(sample_corpus(args.documents)))
    figures: dict[str, Any] = {"store_documents": len(corpus)}

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "bench.db")
        seconds = timed(lambda: list(sqlite.upsert(corpus)))
        sqlite.close()
    figures["sqlite_upsert_docs_per_s"] = round(len(corpus) / seconds, 1)

    url = es_url()
    ours_rates, raw_rates, ratios = [], [], []
    for round_no in range(5):  # paired rounds, alternating which side goes first; the median ratio is reported
        store = ElasticsearchStore.from_settings(
            ElasticsearchSettings(url=url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}")
        )
        raw = ElasticsearchStore.from_settings(
            ElasticsearchSettings(url=url, index_prefix=f"bench-{uuid.uuid4().hex[:8]}")
        )
        try:
            for article in corpus:  # both sides' monthly indices exist before the clock starts (made once a month)
                store.alias_for(article)
            now = datetime.now(UTC)  # the bound gets the same documents as dicts, serialised by the client
            actions = [
                {"_index": raw.alias_for(a), "_id": a.id, "_source": json.loads(raw.source_json(a, now))}
                for a in corpus
            ]

            def ours() -> float:
                # as the pass calls it: the dedup stage has already asked the store which ids it holds
                return len(corpus) / timed(lambda: list(store.upsert(corpus, known={})))

            def bound() -> float:
                def bulk() -> None:
                    helpers.bulk(raw.es, actions, chunk_size=500)
                    raw.es.indices.refresh(index=raw.alias)

                return len(corpus) / timed(bulk)

            if round_no % 2:
                raw_rate, ours_rate = bound(), ours()
            else:
                ours_rate, raw_rate = ours(), bound()
            assert store.count() == raw.count() == len(corpus)
            if round_no == 0:
                figures.update(disk_per_article(store, corpus))
            ours_rates.append(ours_rate)
            raw_rates.append(raw_rate)
            ratios.append(ours_rate / raw_rate)
        finally:
            for s in (store, raw):
                s.drop()
                s.close()
    figures["es_upsert_docs_per_s"] = round(statistics.median(ours_rates), 1)
    figures["es_raw_bulk_docs_per_s"] = round(statistics.median(raw_rates), 1)
    figures["es_upsert_ratio"] = round(statistics.median(ratios), 3)
    figures["es_upsert_ratio_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return figures
