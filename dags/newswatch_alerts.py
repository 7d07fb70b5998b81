"""Alerts: minutes after new articles land (the `newswatch://articles` asset), plus a daily digest.

A run triggered by the asset (or by hand) evaluates the alert rules over what was indexed since each
rule's watermark and sends pending alerts; the daily cron run (NEWSWATCH_DIGEST_SCHEDULE, default
07:00 UTC) also sends the digests of digest-mode rules. Trigger with conf {"digest": true} to force one.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from pipeline import ARTICLES_ASSET_URI

ARTICLES = Asset(uri=ARTICLES_ASSET_URI, name="newswatch_articles")


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(os.environ.get("NEWSWATCH_DIGEST_SCHEDULE", "0 7 * * *"), timezone="UTC"),
        assets=[ARTICLES],
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    tags=["newswatch"],
    doc_md=__doc__,
)
def newswatch_alerts():
    @task
    def alerts(**context) -> dict:
        from pipeline.jobs import alerts_job

        run = context["dag_run"]
        scheduled = str(getattr(run.run_type, "value", run.run_type)) == "scheduled"
        return alerts_job(digest=scheduled or bool((run.conf or {}).get("digest")))

    alerts()


newswatch_alerts()
