"""Shared fixtures: isolated settings, a real HTTP feed server on loopback, stores for the contract tests."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.config import PROJECT_DIR, ElasticsearchSettings, Settings, load_settings
from pipeline.stores import Store, open_store
from pipeline.stores.elasticsearch import ElasticsearchStore
from tests.feedserver import FeedServer

if TYPE_CHECKING:
    from tests.smtpserver import SmtpServer

SAMPLES = PROJECT_DIR / "config" / "samples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def server_unavailable(what: str, reason: str) -> None:
    """A server the tests need did not start: fail loudly in CI, skip with the reason elsewhere."""
    message = f"{what} could not be started: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)  # only outside CI: in CI (IN_CI) the line above fails the run


@contextmanager
def serving(folder: Path) -> Iterator[FeedServer]:
    """A FeedServer over `folder` for the duration of the block."""
    try:
        server = FeedServer(folder).start()
    except OSError as exc:
        server_unavailable("HTTP feed server on 127.0.0.1", str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def feed_server() -> Iterator[FeedServer]:
    with serving(SAMPLES) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with an isolated NEWSWATCH_HOME and quick timeouts, retries and backoff."""
    for key in list(os.environ):
        if key.startswith("NEWSWATCH_"):
            monkeypatch.delenv(key)
    return load_settings(
        home=tmp_path / "home",
        http={
            "connect_timeout": 2,
            "read_timeout": 1,
            "total_timeout": 10,
            "retries": 2,
            "retry_backoff_seconds": 0.01,
            "max_body_bytes": 1024 * 1024,
            "contact_url": "https://example.org/newswatch-tests",
        },
        health={"backoff_base_seconds": 60, "backoff_max_seconds": 3600},
    )


ES_NODE = PROJECT_DIR / "scripts" / "es-test-node"


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """ELASTICSEARCH_URL when set (a user's node, the docker-compose one); otherwise the local test node,
    started for the session (and stopped at its end unless it was already running)."""
    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"]
        return
    already_up = subprocess.run([str(ES_NODE), "status"], capture_output=True, text=True).returncode == 0
    result = subprocess.run([str(ES_NODE), "start"], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        server_unavailable("Elasticsearch test node (scripts/es-test-node start)", result.stderr[-4000:])
    yield result.stdout.strip().splitlines()[-1]
    if not already_up:
        subprocess.run([str(ES_NODE), "stop"], capture_output=True, text=True, timeout=120)


def es_store(url: str, prefix: str | None = None, settle_seconds: float = 0) -> ElasticsearchStore:
    """A store on its own index prefix, so that tests never see each other's documents. Settle time 0: a test
    writes and then reads in one process (the store refreshes after each upsert), so what it wrote is settled;
    tests/test_alerts.py::test_settle_time... runs the default against a write that becomes visible late."""
    settings = ElasticsearchSettings(
        url=url, index_prefix=prefix or f"nwtest-{uuid.uuid4().hex[:10]}", settle_seconds=settle_seconds
    )
    return ElasticsearchStore.from_settings(settings)


@pytest.fixture
def es(es_url: str) -> Iterator[ElasticsearchStore]:
    """An Elasticsearch store of its own, dropped after the test."""
    store = es_store(es_url)
    yield store
    store.drop()
    store.close()


STORES = ["sqlite", "elasticsearch"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every Store implementation; the contract tests run once per store."""
    if request.param == "sqlite":
        s: Store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        yield s
        s.close()
    else:
        es = es_store(request.getfixturevalue("es_url"))
        yield es
        es.drop()
        es.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for the test."""
    from tests.smtpserver import SmtpServer, start

    server = start(SmtpServer())
    yield server
    server.stop()
