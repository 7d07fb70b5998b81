"""Jobs: the units of work that Airflow tasks run, one call each (and that a test or script can run too).

Settings for a job come from Airflow when it is there: the `elasticsearch_default` and `smtp_default`
connections, the `newswatch_config_dir` and `newswatch_home` Variables; otherwise, and for everything
else, from the environment and config/ as for the CLI. Nothing heavy is imported at module level, so
DAG files may import this module cheaply.
"""

from __future__ import annotations

import logging
import os
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.config import PROJECT_DIR, ElasticsearchSettings, Settings, SmtpSettings, load_feeds, load_settings

log = logging.getLogger(__name__)
RUNS = "runs"


def _airflow_variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        return Variable.get(name, default=None)
    except Exception:  # no Airflow, or not inside a task: fall back to the environment
        return None


def _airflow_connection(conn_id: str) -> Any | None:
    try:
        from airflow.sdk import Connection

        return Connection.get(conn_id)
    except Exception:  # no Airflow, no such connection, or not inside a task
        return None


def _login(conn: Any) -> dict[str, Any]:
    """The username and password of an Airflow connection, where it has them."""
    return {k: v for k, v in (("username", conn.login), ("password", conn.password)) if v}


def elasticsearch_from_connection(conn: Any, base: ElasticsearchSettings) -> ElasticsearchSettings:
    """Elasticsearch settings from an Airflow connection (host/port/schema, login/password, extra api_key...)."""
    extra = conn.extra_dejson or {}
    scheme = extra.get("scheme") or conn.schema or "http"
    host = conn.host or "localhost"
    url = host if "://" in host else f"{scheme}://{host}:{conn.port or 9200}"
    update: dict[str, Any] = {"url": url, **_login(conn)}
    for key in ("api_key", "ca_certs", "verify_certs", "index_prefix", "settle_seconds"):
        if key in extra:
            update[key] = extra[key]
    return ElasticsearchSettings.model_validate({**base.model_dump(), **update})


def smtp_from_connection(conn: Any, base: SmtpSettings) -> SmtpSettings:
    """SMTP settings from an Airflow connection (host/port, login/password; extra security, from_addr, ca_file)."""
    extra = conn.extra_dejson or {}
    update: dict[str, Any] = {"host": conn.host, "port": conn.port, **_login(conn)}
    if "security" in extra:
        update["security"] = extra["security"]
    elif extra.get("disable_tls") and extra.get("disable_ssl", True):
        update["security"] = "none"
    for key in ("from_addr", "ca_file", "timeout"):
        if key in extra:
            update[key] = extra[key]
    return SmtpSettings.model_validate({**base.model_dump(), **update})


def job_settings() -> Settings:
    """Settings for a scheduled job (see the module docstring for the order of sources)."""
    overrides: dict[str, Any] = {}
    config_dir = _airflow_variable("newswatch_config_dir")
    if config_dir:
        # Every stage reads its data files (taxonomy, events, alert rules, templates) from
        # NEWSWATCH_CONFIG_DIR; a task runs in a process of its own, so setting it here is scoped.
        os.environ["NEWSWATCH_CONFIG_DIR"] = config_dir
        overrides["config_dir"] = Path(config_dir)
    home = _airflow_variable("newswatch_home") or os.environ.get("NEWSWATCH_HOME")
    overrides["home"] = Path(home) if home else PROJECT_DIR / "var"
    settings = load_settings(**overrides)
    es = _airflow_connection("elasticsearch_default")
    if es is not None:
        settings = settings.model_copy(
            update={
                "store": "elasticsearch",
                "elasticsearch": elasticsearch_from_connection(es, settings.elasticsearch),
            }
        )
    smtp = _airflow_connection("smtp_default")
    if smtp is not None and smtp.host:
        settings = settings.model_copy(update={"smtp": smtp_from_connection(smtp, settings.smtp)})
    return settings


def plan_batches(batch_size: int = 10) -> list[list[str]]:
    """The enabled feeds' ids in batches, for dynamic task mapping (small enough for XCom). A host's feeds are
    never split across batches, so the per-host limit each batch keeps (http.per_host_concurrency) holds across
    workers too: hosts are packed into batches of about `batch_size` feeds, a host with more feeds than that
    making a batch of its own."""
    settings = job_settings()
    by_host: dict[str, list[str]] = {}
    for feed in load_feeds(settings.feeds_path):
        if feed.enabled:
            by_host.setdefault((urlsplit(feed.url).hostname or "").lower(), []).append(feed.id)
    batches: list[list[str]] = []
    for ids in by_host.values():
        if batches and len(batches[-1]) + len(ids) <= batch_size:
            batches[-1].extend(ids)
        else:
            batches.append(list(ids))
    return batches


def ingest_batch(feed_ids: list[str]) -> dict[str, Any]:
    """fetch -> normalise -> tag -> store for these feeds; returns counts only. Safe to rerun."""
    from pipeline.run import run_pass
    from pipeline.stores import open_configured_store
    from pipeline.tagging import tagger_for

    settings = job_settings()
    wanted = set(feed_ids)
    feeds = [f for f in load_feeds(settings.feeds_path) if f.id in wanted]
    with closing(open_configured_store(settings)) as store:
        summary = run_pass(settings, feeds, store, tag=tagger_for(settings))
    counts = {k: v for k, v in summary.to_dict().items() if isinstance(v, (int, float))}
    counts["failed_feeds"] = summary.failed_feeds
    log.info("batch %s: %s", feed_ids, counts)
    return counts


def record_run(batches: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """Sum the batches' counts and keep them in the store under runs/<run_id>."""
    from pipeline.stores import open_configured_store

    totals: dict[str, Any] = {"run_id": run_id, "batches": len(batches), "at": datetime.now(UTC).isoformat()}
    for key in (
        "feeds_ok",
        "feeds_not_modified",
        "feeds_failed",
        "feeds_skipped",
        "stored",
        "new_articles",
        "events_stored",
        "store_errors",
        "entry_errors",
    ):
        totals[key] = sum(int(b.get(key, 0)) for b in batches)
    totals["failed_feeds"] = {k: v for b in batches for k, v in (b.get("failed_feeds") or {}).items()}
    with closing(open_configured_store(job_settings())) as store:
        store.state_put(RUNS, run_id, totals)
    log.info("run %s: %s", run_id, totals)
    return totals


def alerts_job(digest: bool = False) -> dict[str, Any]:
    """Evaluate the alert rules and deliver (and send digests when asked)."""
    from pipeline.alerts import run_alerts
    from pipeline.stores import open_configured_store

    settings = job_settings()
    with closing(open_configured_store(settings)) as store:
        result = run_alerts(store, settings, digest=digest, wait=True)
    for error in result.errors:
        log.warning("alert not sent (kept pending, retried next run): %s", error)
    return dict(result.__dict__)


def feed_health_report(stale_days: float = 7.0) -> dict[str, list[dict[str, Any]]]:
    """Failing feeds, feeds disabled (410 Gone), feeds with no new items for `stale_days`."""
    from pipeline.health import feed_health, health_report
    from pipeline.stores import open_configured_store

    settings = job_settings()
    with closing(open_configured_store(settings)) as store:
        rows = feed_health(store, load_feeds(settings.feeds_path))
    return health_report(rows, stale_days)


def maintenance_job(stale_days: float = 7.0) -> dict[str, Any]:
    """Apply the Elasticsearch template and alias (when that is the store) and report feed health."""
    from email.utils import make_msgid

    from pipeline.alerts import Mailer, build_message, render_feed_health

    settings = job_settings()
    outcome: dict[str, Any] = {}
    if settings.store == "elasticsearch":
        from pipeline.stores.elasticsearch import ElasticsearchStore

        with closing(ElasticsearchStore.from_settings(settings.elasticsearch, setup=False)) as es:
            outcome["elasticsearch"] = es.setup()
    report = feed_health_report(stale_days)
    outcome["feed_health"] = report
    lines = [
        f"{kind}: {row['id']} ({row.get('reason') or row.get('error') or row.get('last_new') or 'no new items'})"
        for kind, rows in report.items()
        for row in rows
    ]
    for line in lines or ["all feeds healthy"]:
        log.info("feed health: %s", line)
    operators = settings.operators
    if operators and lines:
        now = datetime.now(UTC)
        subject, text, html = render_feed_health(lines, now)
        message = build_message(
            subject, text, html, operators, settings.smtp, make_msgid(domain="newswatch.local"), now
        )
        with closing(Mailer(settings.smtp, settings.outbox_dir)) as mailer:
            outcome["emailed"] = mailer.send(message, f"feed-health-{now:%Y%m%d%H%M%S}")
    return outcome
