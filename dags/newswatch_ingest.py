"""Ingestion: every 15 minutes, feeds in batches fanned out with dynamic task mapping.

plan (a host's feeds in one batch) -> ingest (one mapped task per batch, in the fetch pool of
config/airflow/pools.json: fetch -> normalise -> tag -> store, counts only through XCom) -> finish (records
the run summary; when anything was stored, emits an event on the `newswatch://articles` asset carrying the
number of new events, which schedules newswatch_alerts).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetAlias, dag, task

from pipeline import ARTICLES_ASSET_URI

ARTICLES = Asset(uri=ARTICLES_ASSET_URI, name="newswatch_articles")
# Emitting through an alias lets `finish` update the asset only when a run stored something, so an
# idle 15-minute run does not wake the alerts DAG.
NEW_ARTICLES = AssetAlias(name="newswatch_new_articles")
FETCH_POOL = os.environ.get("NEWSWATCH_FETCH_POOL", "newswatch_fetch")
PARALLELISM = int(os.environ.get("NEWSWATCH_INGEST_PARALLELISM", "4"))
RETRIES = {"retries": 3, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True}


@dag(
    schedule=os.environ.get("NEWSWATCH_INGEST_SCHEDULE", "*/15 * * * *") or None,  # empty: only when triggered
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**RETRIES, "max_retry_delay": timedelta(minutes=30)},
    tags=["newswatch"],
    doc_md=__doc__,
)
def newswatch_ingest():
    @task
    def plan() -> list[list[str]]:
        from pipeline.jobs import plan_batches

        return plan_batches(int(os.environ.get("NEWSWATCH_FEEDS_PER_BATCH", "10")))

    @task(pool=FETCH_POOL, max_active_tis_per_dag=PARALLELISM)
    def ingest(feed_ids: list[str]) -> dict:
        from pipeline.jobs import ingest_batch

        return ingest_batch(feed_ids)

    @task(outlets=[NEW_ARTICLES])
    def finish(batches: list[dict], **context) -> dict:
        from pipeline.jobs import record_run

        totals = record_run(batches[:], context["run_id"])  # one slice request for all mapped results
        if totals["stored"]:
            extra = {"new_events": totals["events_stored"], "stored": totals["stored"], "run_id": context["run_id"]}
            context["outlet_events"][NEW_ARTICLES].add(ARTICLES, extra=extra)
        return totals

    finish(ingest.expand(feed_ids=plan()))


newswatch_ingest()
