"""Crash safety: `newswatch run` over 2,000 articles is killed with SIGKILL at random points, 20 times, and rerun
each time. After each rerun the store holds exactly what an uninterrupted run stores (same ids, same content
hashes) and the SMTP server has received every alert exactly once.

The kill points are drawn from a seeded generator: 14 over the whole length of the uninterrupted run (start-up,
fetch, tag, store) and 6 over its alert stage (evaluation and delivery), which is only the last two seconds or so of
a run and would otherwise seldom be hit. The test prints where they fell.

Alerts are marked sent after the message is transmitted and before its end-of-data line (pipeline/alerts/mail.py
`Mailer.send`), so a kill can leave the relay an unfinished message but never a finished one that is not
recorded; docs/reliability.md has the reasoning.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bench.corpus import T0, articles, rss
from pipeline.stores import open_store
from tests.conftest import serving
from tests.smtpserver import SmtpServer

ARTICLES = 2_000
PER_FEED = 100
KILLS = 20
KILLS_IN_ALERT_STAGE = 6
SEED = int(os.environ.get("NEWSWATCH_CRASH_SEED", "20261124"))


@pytest.fixture(scope="module")
def feeds_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """2,000 articles of the benchmark corpus (first two paragraphs each, so a pass takes seconds, not
    minutes, and dated to the last two days) in 20 feeds on a real HTTP server; about 40 of them are
    counter-terrorism stories."""
    folder = tmp_path_factory.mktemp("crash-feeds")
    recent = datetime.now(UTC) - timedelta(days=2) - T0  # new news when run: rules' max_age_days
    short = [replace(a, paragraphs=a.paragraphs[:2], published=a.published + recent) for a in articles(ARTICLES)]
    for i in range(0, ARTICLES, PER_FEED):
        (folder / f"feed-{i // PER_FEED:02d}.xml").write_bytes(rss(f"feed{i // PER_FEED}", short[i : i + PER_FEED]))
    with serving(folder) as server:
        listing = folder / "feeds.yaml"
        listing.write_text(
            yaml.safe_dump(
                {
                    "feeds": [
                        {"id": p.stem, "name": p.stem, "url": server.url(f"/feeds/{p.name}")}
                        for p in sorted(folder.glob("feed-*.xml"))
                    ]
                }
            )
        )
        yield listing


def command(feeds: Path) -> list[str]:
    return [sys.executable, "-m", "pipeline", "run", "--feeds", str(feeds), "--tagging", "fast", "--json"]


def environment(home: Path, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "ELASTICSEARCH_"))}
    env.update(
        NEWSWATCH_HOME=str(home),
        NEWSWATCH_STORE="sqlite",
        NEWSWATCH_SMTP__HOST="127.0.0.1",
        NEWSWATCH_SMTP__PORT=str(smtp_port),
        NEWSWATCH_SMTP__SECURITY="none",
        NEWSWATCH_HTTP__PER_HOST_CONCURRENCY="8",
    )
    return env


def complete_run(feeds: Path, env: dict[str, str]) -> None:
    done = subprocess.run(command(feeds), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stdout + done.stderr


def store_contents(home: Path) -> dict[str, str]:
    with open_store(f"sqlite:///{home / 'newswatch.db'}") as store:
        return {a.id: a.content_hash for a in store.query(limit=None)}


def alerts_received(smtp: SmtpServer, since: int) -> Counter[str]:
    """Each received alert by its story (subject and recipients): a resend would count twice."""
    return Counter(f"{m['Subject']} -> {m['To']}" for m in smtp.messages[since:])


@pytest.mark.timeout(1200)
def test_sigkill_at_random_points_then_rerun_equals_an_uninterrupted_run(
    feeds_file: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    reference_home = tmp_path / "reference"
    started = time.monotonic()
    complete_run(feeds_file, environment(reference_home, smtp.port))
    length = time.monotonic() - started
    alert_stage = (
        smtp.inbox.arrivals[0] - started - 0.3 if smtp.inbox.arrivals else length
    )  # evaluation starts a bit earlier
    expected_store = store_contents(reference_home)
    expected_alerts = alerts_received(smtp, 0)
    assert len(expected_store) == ARTICLES
    assert len(expected_alerts) >= 10 and set(expected_alerts.values()) == {1}, expected_alerts

    rng = random.Random(SEED)
    in_alert_stage = set(rng.sample(range(KILLS), KILLS_IN_ALERT_STAGE))
    report, killed_runs = [], 0
    for trial in range(KILLS):
        home = tmp_path / f"trial-{trial:02d}"
        env = environment(home, smtp.port)
        first_message = len(smtp.messages)
        at = rng.uniform(alert_stage, length) if trial in in_alert_stage else rng.uniform(0.0, length)
        process = subprocess.Popen(command(feeds_file), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=at)
            killed = False  # it finished before the kill point
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed = True
            killed_runs += 1
        stored_at_kill = len(store_contents(home)) if (home / "newswatch.db").exists() else 0
        sent_at_kill = len(smtp.messages) - first_message
        report.append(
            f"kill {trial:2d} at {at:5.2f}s of {length:.2f}s (alerts from {alert_stage:.2f}s): "
            f"{'killed' if killed else 'finished'}, "
            f"{stored_at_kill} stored, {sent_at_kill} alerts sent before the rerun"
        )

        complete_run(feeds_file, env)
        assert store_contents(home) == expected_store, report[-1]
        received = alerts_received(smtp, first_message)
        assert received == expected_alerts, (
            f"{report[-1]}\nduplicates or losses: {received - expected_alerts} / {expected_alerts - received}"
        )
    print("\n".join(report))
    assert killed_runs >= KILLS // 2, report  # the kills did interrupt runs
