"""The Airflow DAGs, parsed and run for real with Airflow's own dag.test() (metadata DB: SQLite in a temp folder).

The runs talk to the loopback feed server, a real store (SQLite, and the Elasticsearch test node through
the `elasticsearch_default` connection) and a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import ARTICLES_ASSET_URI
from pipeline.config import PROJECT_DIR, load_settings
from pipeline.feeds import STATE_NAMESPACE
from pipeline.jobs import ingest_batch
from pipeline.stores import open_configured_store
from tests.feedserver import FeedServer
from tests.helpers import DEMO, DEMO_AS_OF
from tests.smtpserver import SmtpServer

DAGS = PROJECT_DIR / "dags"
DAG_IDS = ["newswatch_alerts", "newswatch_ingest", "newswatch_maintenance"]
# The demo's new agreement; the Pak-US seed (May 2024) is old news and never an immediate alert.
MY_TH_MOU = "[Newswatch] New bilateral agreement: Malaysia \u2013 Thailand"
PK_US_DIALOGUE = "[Newswatch] New bilateral dialogue: Pakistan \u2013 United States"
HEAVY = (
    "spacy",
    "elasticsearch",
    "feedparser",
    "trafilatura",
    "lxml",
    "pipeline.config",
    "pipeline.jobs",
    "pipeline.stores",
    "pipeline.tagging",
)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An Airflow home with a migrated SQLite metadata DB; set before Airflow is first imported."""
    home = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Unpaused, as after `airflow dags unpause`: asset events then queue runs of the consumer DAG.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield home


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    return bag


def run_dag(dag: Any, **kwargs: Any) -> str:
    """dag.test() with retries off, so that a failing task fails the test at once instead of waiting out
    its retry delay; returns the run's state."""
    from airflow.sdk.configuration import clear_secrets_backends_cache

    for task in dag.tasks:
        task.retries = 0
    try:
        return str(dag.test(**kwargs).state)
    finally:
        # dag.test(conn_file_path=...) installs a file secrets backend, which Airflow memoises per process:
        # drop it so the next run sees the connections of its own test.
        clear_secrets_backends_cache()


@pytest.fixture
def job_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed_server: FeedServer) -> Path:
    """NEWSWATCH_* for the jobs the DAGs run: a temp home, the demo feeds over HTTP from two hosts (127.0.0.1 and
    localhost, alternately), fast tagging."""
    for key in list(os.environ):
        if key.startswith(("NEWSWATCH_", "ELASTICSEARCH_", "AIRFLOW_CONN_", "AIRFLOW_VAR_")):
            monkeypatch.delenv(key)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{id: {name.split('.')[0]}, name: '{name}', url: '{url}', "
            f"demo_recent_as_of: '{DEMO_AS_OF.isoformat()}'}}\n"
            for n, name in enumerate(DEMO)
            for url in [feed_server.url("/feeds/" + name).replace("127.0.0.1", "localhost" if n % 2 else "127.0.0.1")]
        )
    )
    monkeypatch.setenv("NEWSWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWSWATCH_CONFIG_DIR", str(PROJECT_DIR / "config"))  # restored if a job changes it
    monkeypatch.setenv("NEWSWATCH_FEEDS_FILE", str(feeds))
    monkeypatch.setenv("NEWSWATCH_TAGGING__MODE", "fast")
    monkeypatch.setenv("NEWSWATCH_FEEDS_PER_BATCH", "2")
    return feeds


def smtp_env(monkeypatch: pytest.MonkeyPatch, smtp: SmtpServer) -> None:
    monkeypatch.setenv("NEWSWATCH_SMTP__HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSWATCH_SMTP__PORT", str(smtp.port))
    monkeypatch.setenv("NEWSWATCH_SMTP__SECURITY", "none")


def asset_events() -> list[dict]:
    """The extras of every event on the articles asset, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "newswatch_articles")
            .order_by(AssetEvent.id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


def queued_alert_runs() -> int:
    """Runs of newswatch_alerts that the scheduler would start because of an asset event (and clears them)."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == "newswatch_alerts")
        queued = query.count()
        query.delete()
        return queued


def subjects(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages]


# --- parsing and structure -------------------------------------------------------------------------


def test_dag_files_parse_without_import_errors_heavy_imports_or_slow_parsing(airflow_home: Path) -> None:
    code = (
        "import json, sys\n"
        "from airflow.configuration import conf\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag({str(DAGS)!r})\n"
        "print(json.dumps({'dags': sorted(bag.dags), 'errors': bag.import_errors,\n"
        f"  'heavy': [m for m in {HEAVY!r} if m in sys.modules],\n"
        "  'seconds': {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},\n"
        "  'timeout': conf.getfloat('core', 'dagbag_import_timeout'),\n"
        "  'schedule': bag.dags['newswatch_ingest'].timetable.expression}))\n"
    )
    env = {**os.environ, "NEWSWATCH_INGEST_SCHEDULE": "*/5 * * * *"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["dags"] == DAG_IDS and parsed["errors"] == {}
    assert parsed["heavy"] == [], "DAG files must not import these at module level"
    assert parsed["schedule"] == "*/5 * * * *"  # the schedule is configurable
    # Airflow's own limit: a file slower than dagbag_import_timeout is an import error for the dag-processor.
    # Parsing here takes milliseconds; the bound is 1/10 of that limit, far from the noise of a busy machine.
    assert set(parsed["seconds"]) == {"newswatch_alerts.py", "newswatch_ingest.py", "newswatch_maintenance.py"}
    assert max(parsed["seconds"].values()) < parsed["timeout"] / 10, parsed["seconds"]


def test_ingest_dag_structure(airflow_home: Path) -> None:
    from airflow.sdk import AssetAlias

    dag = dagbag().dags["newswatch_ingest"]
    assert dag.timetable.expression == "*/15 * * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "plan": ["ingest"],
        "ingest": ["finish"],
        "finish": [],
    }
    ingest = dag.get_task("ingest")
    assert type(ingest).__name__ == "DecoratedMappedOperator"  # dynamic task mapping over the planned batches
    assert ingest.max_active_tis_per_dag == 4
    for task in dag.tasks:
        assert task.retries == 3 and task.retry_exponential_backoff
        assert task.max_retry_delay == timedelta(minutes=30)
    assert dag.get_task("finish").outlets == [AssetAlias(name="newswatch_new_articles")]


def test_alerts_dag_structure(airflow_home: Path) -> None:
    from airflow.sdk import Asset

    dag = dagbag().dags["newswatch_alerts"]
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.timetable.expression == "0 7 * * *"  # the daily digest
    assert dag.timetable.asset_condition.objects == (Asset(uri=ARTICLES_ASSET_URI, name="newswatch_articles"),)
    assert [t.task_id for t in dag.tasks] == ["alerts"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.get_task("alerts").retries == 3 and dag.get_task("alerts").retry_exponential_backoff


def test_maintenance_dag_structure(airflow_home: Path) -> None:
    dag = dagbag().dags["newswatch_maintenance"]
    assert dag.timetable.expression == "0 0 * * *"
    assert [t.task_id for t in dag.tasks] == ["maintenance"]
    assert dag.catchup is False and dag.get_task("maintenance").retries == 2


# --- runs --------------------------------------------------------------------------------------------


def test_ingest_emits_the_asset_then_alerts_send_once_and_reruns_duplicate_nothing(
    airflow_home: Path, job_env: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_env(monkeypatch, smtp)
    bag = dagbag()
    before = len(asset_events())
    queued_alert_runs()

    assert run_dag(bag.dags["newswatch_ingest"]) == "success"
    store = open_configured_store(load_settings())
    try:
        assert store.count() == 27
        new = asset_events()[before:]
        # six events: one happening is one event (the Pak-US seed is one dialogue, no longer also intent and material)
        assert len(new) == 1 and (new[0]["new_events"], new[0]["stored"]) == (6, 27)
        assert queued_alert_runs() == 1  # the scheduler would now start newswatch_alerts

        assert run_dag(bag.dags["newswatch_alerts"]) == "success"
        assert subjects(smtp).count(MY_TH_MOU) == 1 and PK_US_DIALOGUE not in subjects(smtp)
        assert len(smtp.messages) == 2 and not any("Digest" in s for s in subjects(smtp))

        # A second pass over the same feeds: nothing stored, no asset event, no alerts run, no email.
        assert run_dag(bag.dags["newswatch_ingest"]) == "success"
        assert run_dag(bag.dags["newswatch_alerts"]) == "success"
        assert store.count() == 27 and len(smtp.messages) == 2
        assert len(asset_events()) == before + 1 and queued_alert_runs() == 0

        # The digest run (the daily cron run, or a run with {"digest": true}) sends the digest-mode rule's email,
        # and the immediate rule's digest of what was reported late (the Pak-US seed).
        assert run_dag(bag.dags["newswatch_alerts"], run_conf={"digest": True}) == "success"
        digests = [s for s in subjects(smtp) if "Digest" in s]
        assert len(digests) == 2 and len(smtp.messages) == 4
        assert subjects(smtp).count(MY_TH_MOU) == 1 and PK_US_DIALOGUE not in subjects(smtp)

        runs = store.state_items("runs")
        assert len(runs) == 2 and sorted(r["stored"] for r in runs.values()) == [0, 27]
        assert all(r["batches"] == 2 for r in runs.values())  # 5 feeds on two hosts, 2 a batch, a host in one
    finally:
        store.close()


def test_rerunning_the_same_dag_run_and_one_mapped_batch_duplicates_nothing(
    airflow_home: Path, job_env: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_env(monkeypatch, smtp)
    bag = dagbag()
    logical_date = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    same_run = {"logical_date": logical_date, "run_after": logical_date}  # the same run id each time

    def recorded_runs() -> dict[str, dict]:
        store = open_configured_store(load_settings())
        try:
            return store.state_items("runs")
        finally:
            store.close()

    assert run_dag(bag.dags["newswatch_ingest"], **same_run) == "success"
    assert run_dag(bag.dags["newswatch_alerts"], **same_run) == "success"
    first = recorded_runs()
    # Run the same DAG runs again (dag.test replaces the run and runs every task anew, like "Clear" in the UI).
    assert run_dag(bag.dags["newswatch_ingest"], **same_run) == "success"
    assert run_dag(bag.dags["newswatch_alerts"], **same_run) == "success"
    second = recorded_runs()
    assert list(second) == list(first) and len(first) == 1  # one run id, its summary recorded once
    [(run_id, before)], after = first.items(), second[next(iter(first))]
    assert after["at"] > before["at"], f"{run_id} did not run again"
    assert (before["feeds_ok"], before["stored"]) == (5, 27)
    assert (after["feeds_not_modified"], after["stored"]) == (5, 0)
    # One mapped batch run again on its own (the call the mapped task makes), as after a worker died between
    # storing and saving the feeds' state: the validators are gone, so the feeds are fetched in full again.
    store = open_configured_store(load_settings())
    try:
        for feed_id in ("malaymail", "brecorder"):
            store.state_delete(STATE_NAMESPACE, feed_id)
        again = ingest_batch(["malaymail", "brecorder"])
        assert again["feeds_ok"] == 2 and again["entries"] > 0 and again["stored"] == 0
        assert store.count() == 27
    finally:
        store.close()
    assert subjects(smtp).count(MY_TH_MOU) == 1 and len(smtp.messages) == 2


def test_connections_the_airflow_way(
    airflow_home: Path, job_env: Path, smtp: SmtpServer, es_url: str, tmp_path: Path
) -> None:
    """Elasticsearch from `elasticsearch_default`, SMTP from `smtp_default`; no NEWSWATCH_* store or SMTP variables."""
    from urllib.parse import urlsplit

    from pipeline.config import ElasticsearchSettings
    from pipeline.stores.elasticsearch import ElasticsearchStore

    es = urlsplit(es_url)
    connections = {
        "elasticsearch_default": {
            "conn_type": "elasticsearch",
            "host": es.hostname,
            "port": es.port,
            "schema": "http",
            # a short settle time: the alerts task waits it out (Store.settle) before evaluating
            "extra": json.dumps({"index_prefix": "dagtest", "settle_seconds": 2}),
        },
        "smtp_default": {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp.port,
            "extra": json.dumps({"security": "none", "from_addr": "airflow@newswatch.example"}),
        },
    }
    conn_file = tmp_path / "connections.json"
    conn_file.write_text(json.dumps(connections))
    bag = dagbag()
    store = ElasticsearchStore.from_settings(ElasticsearchSettings(url=es_url, index_prefix="dagtest"))
    try:
        assert run_dag(bag.dags["newswatch_ingest"], conn_file_path=str(conn_file)) == "success"
        assert store.count() == 27
        assert not (Path(os.environ["NEWSWATCH_HOME"]) / "newswatch.db").exists()  # nothing went to SQLite
        assert run_dag(bag.dags["newswatch_alerts"], conn_file_path=str(conn_file)) == "success"
        assert subjects(smtp).count(MY_TH_MOU) == 1 and len(smtp.messages) == 2
        assert {m["From"] for m in smtp.messages} == {"airflow@newswatch.example"}
        # Rerun on Elasticsearch: nothing new stored or sent.
        assert run_dag(bag.dags["newswatch_ingest"], conn_file_path=str(conn_file)) == "success"
        assert run_dag(bag.dags["newswatch_alerts"], conn_file_path=str(conn_file)) == "success"
        assert store.count() == 27 and len(smtp.messages) == 2
        assert run_dag(bag.dags["newswatch_maintenance"], conn_file_path=str(conn_file)) == "success"
    finally:
        store.drop()
        store.close()


def test_config_folder_and_home_from_airflow_variables(
    airflow_home: Path, job_env: Path, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`newswatch_config_dir` and `newswatch_home` as Airflow Variables (here from AIRFLOW_VAR_*, Airflow's
    environment secrets backend): the alert rules of that folder are used, the store lives in that home."""
    config = tmp_path / "ops-config"
    shutil.copytree(PROJECT_DIR / "config", config)
    rules = yaml.safe_load((config / "alerts.yaml").read_text())
    for rule in rules["rules"]:
        rule["recipients"] = ["desk@ops.example"]
    (config / "alerts.yaml").write_text(yaml.safe_dump(rules))
    home = tmp_path / "ops-home"
    monkeypatch.setenv("AIRFLOW_VAR_NEWSWATCH_CONFIG_DIR", str(config))
    monkeypatch.setenv("AIRFLOW_VAR_NEWSWATCH_HOME", str(home))
    smtp_env(monkeypatch, smtp)
    bag = dagbag()
    assert run_dag(bag.dags["newswatch_ingest"]) == "success"
    assert run_dag(bag.dags["newswatch_alerts"]) == "success"
    assert (home / "newswatch.db").exists() and not (Path(os.environ["NEWSWATCH_HOME"]) / "newswatch.db").exists()
    assert {m["To"] for m in smtp.messages} == {"desk@ops.example"} and subjects(smtp).count(MY_TH_MOU) == 1


def test_maintenance_reports_failing_and_gone_feeds(
    airflow_home: Path, job_env: Path, smtp: SmtpServer, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_env.write_text(
        "feeds:\n"
        f"  - {{id: good, name: Good, url: '{feed_server.url('/feeds/brecorder.rss.xml')}'}}\n"
        f"  - {{id: broken, name: Broken, url: '{feed_server.url('/status/500')}'}}\n"
        f"  - {{id: gone, name: Gone, url: '{feed_server.url('/status/410')}'}}\n"
    )
    monkeypatch.setenv("NEWSWATCH_HTTP__RETRIES", "0")
    monkeypatch.setenv("NEWSWATCH_OPERATORS", '["ops@newswatch.example"]')
    smtp_env(monkeypatch, smtp)
    bag = dagbag()
    assert run_dag(bag.dags["newswatch_ingest"]) == "success"  # failing feeds never fail the run
    assert run_dag(bag.dags["newswatch_maintenance"]) == "success"
    report = [m for m in smtp.messages if "Feed health" in m["Subject"]]
    assert len(report) == 1 and report[0]["To"] == "ops@newswatch.example"
    body = report[0].get_body(preferencelist=("plain",)).get_content()
    assert "failing: broken (HTTP 500" in body and "disabled: gone (HTTP 410 Gone" in body
    assert "good" not in body.split("\n", 2)[-1].split()  # the healthy feed is not reported
