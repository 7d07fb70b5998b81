"""Shared fixtures: isolated settings, a real HTTP feed server on loopback, stores for the contract tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import PROJECT_DIR, Settings, load_settings
from pipeline.stores import Store, open_store
from tests.feedserver import FeedServer

SAMPLES = PROJECT_DIR / "config" / "samples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def server_unavailable(what: str, reason: str) -> None:
    """A server the tests need did not start: fail loudly in CI, skip with the reason elsewhere."""
    message = f"{what} could not be started: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)  # only outside CI: in CI (IN_CI) the line above fails the run


@pytest.fixture(scope="session")
def feed_server() -> Iterator[FeedServer]:
    try:
        server = FeedServer(SAMPLES).start()
    except OSError as exc:
        server_unavailable("HTTP feed server on 127.0.0.1", str(exc))
    yield server
    server.stop()


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


STORES = ["sqlite"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every Store implementation; the contract tests run once per store."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    else:  # pragma: no cover - later stores register here
        raise AssertionError(request.param)
    yield s
    s.close()
