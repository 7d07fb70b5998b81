"""`make scale-test` (`python -m bench.scale`): the ingest DAG on Airflow's CeleryExecutor with two workers and a
two-node Elasticsearch cluster, all on loopback, with one worker and one node killed in the middle of a run.

What it starts (all stopped at the end; data in a temporary folder):
- Redis and PostgreSQL from Debian's packages (apt-get installs them when missing and the run is root's);
  PostgreSQL runs as its system user `postgres` when the run is root's;
- Elasticsearch node-1 (master and data) and node-2 (data only) with scripts/es-test-node; one replica per shard
  (NEWSWATCH_ELASTICSEARCH__REPLICAS=1), so either node holds every shard;
- the bench feed host serving --feeds feeds over --hosts loopback addresses: ingest plans one batch per host;
- an aiosmtpd relay that keeps every message (tests/smtpserver.py);
- Airflow 3 with the CeleryExecutor (Redis broker, PostgreSQL metadata DB and result backend): api-server
  (every caller an admin: it listens on loopback only), scheduler, dag-processor and Celery workers.

Three rounds, each a triggered `newswatch_ingest` run over --items new items of every feed (the alerts DAG
follows each through the articles asset):
1. one worker: throughput;
2. two workers: throughput;
3. two workers; once worker 2 is running ingest tasks, it (its whole process tree) and Elasticsearch node-2 are
   killed with SIGKILL; node-2 starts again --node-down seconds later.

Checks, exit status 1 when one fails: every run succeeded; every item of every round is in the store exactly once;
every alert in the ledger was mailed exactly once (one message per Message-ID, none pending); the cluster was
yellow while node-2 was down and green after it came back; the tasks worker 2 was running when it died ran again
and succeeded. The figures (scale_*) are merged into bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from elasticsearch import Elasticsearch, helpers

from bench.corpus import article, rss
from bench.feedhost import FeedHost
from bench.results import save, write_report
from pipeline.config import load_settings
from tests.smtpserver import SmtpServer, free_port, start

PROJECT = Path(__file__).resolve().parent.parent
ES_NODE = PROJECT / "scripts" / "es-test-node"
PREFIX = "scale"
CLUSTER = "newswatch-scale"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """Poll `check` until it returns something true; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def kill_tree(pid: int) -> int:
    """SIGKILL a process and all its descendants, as a crash of the machine would; returns how many died."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return 0
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    return len(procs)


# --- Debian's Redis and PostgreSQL -------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def ensure_packages() -> None:
    """Redis and PostgreSQL from Debian's packages, installed when missing (needs root)."""
    missing = [
        pkg
        for pkg, there in (("redis-server", shutil.which("redis-server")), ("postgresql", postgres_bin()))
        if not there
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"scale-test: install {' '.join(missing)} (Debian packages) or run as root to have them installed")
    say(f"installing {' '.join(missing)} from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)


class Services:
    """The processes of the run; `stack` stops them all."""

    def __init__(self, work: Path, stack: ExitStack) -> None:
        self.work, self.stack = work, stack

    def spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - closed by the stack
        self.stack.callback(log.close)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
        self.stack.callback(lambda: kill_tree(proc.pid))
        return proc

    def redis(self) -> str:
        port = free_port()
        self.spawn(
            "redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        )

        def pong() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for("Redis", pong, 30, 0.2)
        return f"redis://127.0.0.1:{port}/0"

    def postgres(self) -> str:
        """A PostgreSQL cluster of its own with a database `airflow` (trust login on loopback)."""
        pg = postgres_bin()
        assert pg is not None
        data = self.work / "pg"
        data.mkdir()
        as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
            as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        subprocess.run(
            [*as_user, str(pg / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        self.spawn(
            "postgres",
            [
                *as_user,
                str(pg / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off",
            ],
        )
        ready = [str(pg / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow"]
        wait_for("PostgreSQL", lambda: subprocess.run(ready, capture_output=True).returncode == 0, 60, 0.5)
        create = [
            str(pg / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "airflow",
            "-d",
            "postgres",
            "-c",
            "CREATE DATABASE airflow",
        ]
        subprocess.run(create, check=True, capture_output=True)
        return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


class EsNode:
    """One node of the cluster, run by scripts/es-test-node with a state file of its own."""

    def __init__(self, work: Path, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.env = {
            **os.environ,
            "NEWSWATCH_ES_STATE": str(work / f"es-{name}.json"),
            "NEWSWATCH_ES_SETTINGS": json.dumps(
                {"discovery.type": None, "node.name": name, "cluster.name": CLUSTER, **settings}
            ),
            "NEWSWATCH_ES_HEAP": "-Xms512m -Xmx512m",
        }
        self.state = Path(self.env["NEWSWATCH_ES_STATE"])

    def command(self, verb: str) -> str:
        result = subprocess.run([sys.executable, str(ES_NODE), verb], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"es-test-node {verb} ({self.name}) failed:\n{result.stderr}")
        return result.stdout.strip()

    @property
    def transport_port(self) -> int:
        return json.loads(self.state.read_text())["transport_port"]


# --- the run -----------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace, work: Path, stack: ExitStack) -> None:
        self.args, self.work, self.stack = args, work, stack
        self.services = Services(work, stack)
        self.failures: list[str] = []
        self.figures: dict[str, Any] = {
            "scale_feeds": args.feeds,
            "scale_hosts": args.hosts,
            "scale_items_per_round": args.feeds * args.items,
        }
        self.links: Counter[str] = Counter()  # every item published, over all rounds
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def check(self, ok: bool, what: str) -> None:
        say(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            self.failures.append(what)

    # services

    def start(self) -> None:
        ensure_packages()
        broker = self.services.redis()
        database = self.services.postgres()
        say(f"Redis {broker}, PostgreSQL {database}")
        self.node1 = EsNode(self.work, "node-1", {"cluster.initial_master_nodes": "node-1"})
        self.stack.callback(lambda: self.node1.command("stop"))
        self.es_url = self.node1.command("start").splitlines()[-1]
        self.node2 = EsNode(
            self.work,
            "node-2",
            {"node.roles": "data,ingest", "discovery.seed_hosts": f"127.0.0.1:{self.node1.transport_port}"},
        )
        self.stack.callback(lambda: self.node2.command("stop"))
        self.node2_url = self.node2.command("start").splitlines()[-1]
        self.es = Elasticsearch(self.es_url, request_timeout=60)
        wait_for("two Elasticsearch nodes", lambda: self.health()["number_of_nodes"] == 2, 120)
        say(f"Elasticsearch cluster {CLUSTER}: 2 nodes, node-1 at {self.es_url}")
        self.feeds_dir = self.work / "feeds"
        self.feeds_dir.mkdir()
        host = FeedHost(self.feeds_dir, live=True, hosts=self.args.hosts, delay=self.args.delay)
        self.host = self.stack.enter_context(host)
        self.smtp = start(SmtpServer())
        self.stack.callback(self.smtp.stop)
        self.write_feeds_file()
        self.airflow_env = self.make_airflow_env(broker, database)
        self.airflow("db", "migrate")
        self.airflow("pools", "import", str(PROJECT / "config" / "airflow" / "pools.json"))
        for component in ("api-server", "scheduler", "dag-processor"):
            self.services.spawn(component, [self.airflow_bin, component], self.airflow_env)
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}/api/v2", timeout=30)
        self.stack.callback(self.api.close)
        wait_for("the Airflow API", self.api_up, 180, 2)
        for dag_id in ("newswatch_ingest", "newswatch_alerts"):
            wait_for(f"{dag_id} to be parsed", lambda d=dag_id: self.get(f"/dags/{d}", missing_ok=True), 180, 2)
            self.api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def health(self) -> dict[str, Any]:
        try:
            return self.es.cluster.health().body
        except Exception:  # noqa: BLE001 - a cluster that does not answer is reported as such
            return {"status": "unreachable", "number_of_nodes": 0}

    def write_feeds_file(self) -> None:
        feeds = [
            {"id": f"feed-{f:04d}", "name": f"Feed {f}", "url": self.host.url(f"feed-{f:04d}.xml", f % self.args.hosts)}
            for f in range(self.args.feeds)
        ]
        self.feeds_file = self.work / "feeds.yaml"
        self.feeds_file.write_text(yaml.safe_dump({"feeds": feeds}))

    def publish(self, round_no: int) -> None:
        """Every feed shows this round's items only (new links, published minutes ago, so that their alerts are
        news and not late), as a news site's feed moves on."""
        items, now = self.args.items, datetime.now(UTC)
        for f in range(self.args.feeds):
            batch = [
                replace(article(f * 1000 + round_no * items + n), published=now - timedelta(minutes=n + 1))
                for n in range(items)
            ]
            self.links.update(a.link for a in batch)
            (self.feeds_dir / f"feed-{f:04d}.xml").write_bytes(rss(f"feed-{f:04d}", batch))

    def make_airflow_env(self, broker: str, database: str) -> dict[str, str]:
        self.api_port = free_port()
        self.airflow_bin = str(Path(sys.executable).parent / "airflow")
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.work / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            # a dead worker's task is found within ~35 s (no heartbeat) and retried after the DAG's retry_delay
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
                {
                    "conn_type": "elasticsearch",
                    "host": f"{self.es_url},{self.node2_url}",  # both nodes: the client carries on with one
                    "schema": "http",
                    "extra": {"index_prefix": PREFIX, "settle_seconds": 0},
                }
            ),
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": self.smtp.port,
                    "extra": {"security": "none", "from_addr": "Newswatch <newswatch@newswatch.local>"},
                }
            ),
            "NEWSWATCH_FEEDS_FILE": str(self.feeds_file),
            "NEWSWATCH_HOME": str(self.work / "home"),
            "NEWSWATCH_ELASTICSEARCH__REPLICAS": "1",
            "NEWSWATCH_INGEST_SCHEDULE": "",  # runs only when triggered
            "NEWSWATCH_FEEDS_PER_BATCH": str(max(1, self.args.feeds // self.args.hosts)),
        }

    def airflow(self, *args: str) -> None:
        result = subprocess.run([self.airflow_bin, *args], env=self.airflow_env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")

    def api_up(self) -> bool:
        try:
            return self.api.get("/version").status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, missing_ok: bool = False, **params: Any) -> Any:
        response = self.api.get(path, params=params)
        if missing_ok and response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def start_worker(self, name: str) -> None:
        cmd = [
            self.airflow_bin,
            "celery",
            "worker",
            "--celery-hostname",
            f"{name}@%h",
            "--concurrency",
            "2",
            "--without-mingle",
            "--without-gossip",
            "--skip-serve-logs",
        ]
        self.workers[name] = self.services.spawn(name, cmd, self.airflow_env)
        say(f"started Celery {name} (pid {self.workers[name].pid})")

    def worker_busy(self, name: str) -> bool:
        """A task is running in the worker: one of its pool processes has a child (the task's supervisor)."""
        try:
            pool = psutil.Process(self.workers[name].pid).children()
            return any(p.children() for p in pool)
        except psutil.NoSuchProcess:
            return False

    # DAG runs

    def trigger(self) -> str:
        response = self.api.post("/dags/newswatch_ingest/dagRuns", json={"logical_date": None})
        response.raise_for_status()
        return response.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/dags/newswatch_ingest/dagRuns/{run_id}/taskInstances", limit=1000)["task_instances"]

    def finished(self, run_id: str) -> str | None:
        state = self.run_state("newswatch_ingest", run_id)
        return state if state in ("success", "failed") else None

    def alerts_settled(self, rounds: int) -> bool:
        """The alerts DAG has run after each ingest run so far and nothing of it is still going."""
        runs = self.get("/dags/newswatch_alerts/dagRuns", limit=100)["dag_runs"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        return sum(r["run_type"] == "asset_triggered" for r in done) >= rounds and len(done) == len(runs)

    def ingest_round(self, round_no: int, during: Callable[[str], None] | None = None) -> float:
        self.publish(round_no)
        began = time.monotonic()
        run_id = self.trigger()
        say(f"round {round_no}: triggered {run_id}")
        if during:
            during(run_id)
        state = wait_for(f"ingest run {run_id}", lambda: self.finished(run_id), self.args.timeout, 2)
        seconds = time.monotonic() - began
        self.check(state == "success", f"round {round_no}: ingest run {run_id} {state} after {seconds:.0f}s")
        wait_for("the alerts run that follows", lambda: self.alerts_settled(round_no), self.args.timeout, 2)
        self.last_run = run_id
        return seconds

    def crash(self, run_id: str) -> None:
        """Kill worker 2 and node-2 in the middle of the run (a quarter of the batches done, worker 2 running
        some); bring node-2 back --node-down seconds later."""

        def midway() -> bool:
            states = [ti["state"] for ti in self.task_instances(run_id) if ti["task_id"] == "ingest"]
            return len(states) > 1 and states.count("success") >= len(states) / 4 and self.worker_busy("worker2")

        wait_for("the middle of the run", midway, self.args.timeout, 0.5)
        time.sleep(2)  # into worker 2's tasks: fetched and tagging, some of it stored
        pids = {p.pid for p in psutil.Process(self.workers["worker2"].pid).children(recursive=True)}
        running = [ti for ti in self.task_instances(run_id) if ti["state"] == "running" and ti["pid"] in pids]
        killed = kill_tree(self.workers["worker2"].pid)
        self.node2.command("kill")
        killed_at, self.killed_at = time.monotonic(), datetime.now(UTC)
        say(f"killed worker2 ({killed} processes, running {len(running)} ingest tasks) and node-2")
        status = wait_for(
            "the cluster to notice node-2 is gone",
            lambda: (h := self.health())["number_of_nodes"] == 1 and h["status"],
            60,
            0.5,
        )
        self.figures["scale_cluster_status_one_node_down"] = status
        self.check(status == "yellow", f"cluster {status} with node-2 down (every shard still has a copy)")
        time.sleep(max(0.0, self.args.node_down - (time.monotonic() - killed_at)))
        restarted = time.monotonic()
        self.node2.command("start")
        self.es.cluster.health(wait_for_status="green", timeout="300s")
        self.figures["scale_es_recover_seconds"] = round(time.monotonic() - restarted, 1)
        self.check(
            self.health()["status"] == "green",
            f"cluster green {time.monotonic() - restarted:.0f}s after node-2 restarted",
        )
        self.crashed_tasks = {(ti["task_id"], ti["map_index"]) for ti in running}

    # checks

    def stored_links(self) -> Counter[str]:
        self.es.indices.refresh(index=f"{PREFIX}-articles")
        hits = helpers.scan(self.es, index=f"{PREFIX}-articles", query={"query": {"match_all": {}}}, _source=["url"])
        return Counter(hit["_source"]["url"] for hit in hits)

    def verify(self) -> None:
        stored = self.stored_links()
        missing = set(self.links) - set(stored)
        twice = [url for url, n in stored.items() if n > 1]
        self.figures["scale_articles_published"] = len(self.links)
        self.figures["scale_articles_stored"] = sum(stored.values())
        self.check(not missing, f"every published item stored ({len(self.links)} items, {len(missing)} missing)")
        self.check(not twice, f"no item stored twice ({len(twice)} twice)")
        peaks = self.host.peaks()
        limit = load_settings().http.per_host_concurrency
        self.figures["scale_peak_requests_per_host"] = max(peaks.values())
        self.check(
            len(peaks) == self.args.hosts and max(peaks.values()) == limit,
            f"per-host limit held across both workers: at most {max(peaks.values())} requests in flight at one "
            f"host (limit {limit}; {len(peaks)} hosts polled)",
        )
        mailed = Counter(str(m["Message-ID"]) for m in self.smtp.messages)
        records = self.alert_records()
        sent = [r for r in records if r.status == "sent"]
        pending = [r for r in records if r.status == "pending"]
        # an immediate alert is mailed under its own Message-ID; a digest's Message-ID carries its digest_id
        ledger = {r.message_id for r in sent if r.delivery == "immediate"}
        ledger |= {m for d in {r.digest_id for r in sent if r.delivery == "digest"} for m in mailed if f".{d}@" in m}
        self.figures["scale_alerts_sent"] = len(sent)
        self.figures["scale_alert_messages"] = len(self.smtp.messages)
        immediate = sum(r.delivery == "immediate" for r in sent)
        self.check(immediate > 0, f"alerts were sent: {immediate} immediate, {len(sent) - immediate} in digests")
        self.check(not pending, f"no alert left pending ({len(pending)})")
        self.check(
            all(n == 1 for n in mailed.values()), f"no message mailed twice ({len(self.smtp.messages)} messages)"
        )
        digests = len({r.digest_id for r in sent if r.delivery == "digest"})
        self.check(
            set(mailed) == ledger and len(ledger) == immediate + digests,
            f"the messages are the ledger's: {len(mailed)} mailed; {immediate} alerts and {digests} digests in it",
        )
        tis = {(ti["task_id"], ti["map_index"]): ti for ti in self.task_instances(self.last_run)}
        retried = [tis[key] for key in self.crashed_tasks]
        self.figures["scale_tasks_retried_after_kill"] = len(retried)
        if retried and all(ti["end_date"] for ti in retried):
            done = max(datetime.fromisoformat(ti["end_date"]) for ti in retried)
            self.figures["scale_task_recover_seconds"] = round((done - self.killed_at).total_seconds(), 1)
        self.check(
            bool(retried) and all(ti["try_number"] > 1 and ti["state"] == "success" for ti in retried),
            f"the {len(retried)} task(s) running on the killed worker ran again and succeeded: "
            + ", ".join(f"{ti['task_id']}[{ti['map_index']}] try {ti['try_number']} {ti['state']}" for ti in retried),
        )

    def alert_records(self) -> list[Any]:
        from pipeline.alerts import list_alerts
        from pipeline.config import ElasticsearchSettings
        from pipeline.stores.elasticsearch import ElasticsearchStore

        settings = ElasticsearchSettings(url=self.es_url, index_prefix=PREFIX, replicas=1)
        store = ElasticsearchStore.from_settings(settings, setup=False)
        try:
            return list_alerts(store)
        finally:
            store.close()

    def run(self) -> None:
        self.start()
        self.start_worker("worker1")
        one = self.ingest_round(1)
        self.start_worker("worker2")
        two = self.ingest_round(2)
        items = self.args.feeds * self.args.items
        self.figures["scale_one_worker_articles_per_s"] = round(items / one, 1)
        self.figures["scale_two_workers_articles_per_s"] = round(items / two, 1)
        self.figures["scale_two_vs_one_worker_ratio"] = round(one / two, 2)
        kill_run = self.ingest_round(3, during=self.crash)
        self.figures["scale_run_with_kills_seconds"] = round(kill_run, 1)
        self.figures["scale_run_with_kills_vs_two_workers_ratio"] = round(kill_run / two, 2)
        self.digest()
        self.verify()

    def digest(self) -> None:
        """The day's digest, as the alerts DAG's cron run sends it: the digest rule's alerts go out too."""
        response = self.api.post(
            "/dags/newswatch_alerts/dagRuns", json={"logical_date": None, "conf": {"digest": True}}
        )
        response.raise_for_status()
        run_id = response.json()["dag_run_id"]
        state = wait_for(
            "the digest run",
            lambda: (s := self.run_state("newswatch_alerts", run_id)) in ("success", "failed") and s,
            self.args.timeout,
            2,
        )
        self.check(state == "success", f"digest run {run_id} {state}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=500, help="feeds (default 500)")
    parser.add_argument("--hosts", type=int, default=25, help="loopback publishers the feeds are spread over")
    parser.add_argument("--items", type=int, default=4, help="new items per feed and round")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each feed takes to answer")
    parser.add_argument("--node-down", type=float, default=30, help="seconds node-2 stays down")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a run may take")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) afterwards")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newswatch-scale-"))
    work.chmod(0o755)  # PostgreSQL's and Elasticsearch's users reach their folders through it
    run = None
    try:
        with ExitStack() as stack:
            run = Run(args, work, stack)
            run.run()
    except Exception as exc:  # noqa: BLE001 - reported with where the logs are; no figures from a broken run
        say(f"FAIL  {exc}")
        args.keep = True
        sys.exit(f"scale-test: the run did not complete; logs in {work}")
    run.figures["scale_checks_failed"] = len(run.failures)
    path = save(run.figures)
    for key, value in sorted(run.figures.items()):
        print(f"{key:44} {value}")
    print(f"written to {path}")
    for report in write_report(with_plot=False):  # the scale venv has no matplotlib
        print(f"written to {report}")
    if args.keep or run.failures:
        say(f"logs in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if run.failures else 0)


if __name__ == "__main__":
    main()
