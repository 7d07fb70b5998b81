"""Maintenance, daily: Elasticsearch template and alias (idempotent) and the feed-health report.

The report lists failing feeds, feeds disabled after 410 Gone and feeds with no new items for
NEWSWATCH_STALE_DAYS (default 7); it goes to the task log and, when NEWSWATCH_OPERATORS names
addresses, by email through the `smtp_default` connection (or NEWSWATCH_SMTP__*).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["newswatch"],
    doc_md=__doc__,
)
def newswatch_maintenance():
    @task
    def maintenance() -> dict:
        from pipeline.jobs import maintenance_job

        return maintenance_job(stale_days=float(os.environ.get("NEWSWATCH_STALE_DAYS", "7")))

    maintenance()


newswatch_maintenance()
