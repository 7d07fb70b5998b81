"""The `newswatch` command line, run as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import PROJECT_DIR
from tests.feedserver import FeedServer

DEMO = PROJECT_DIR / "config" / "feeds.demo.yaml"


def newswatch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env, timeout=120, cwd=PROJECT_DIR
    )


@pytest.mark.parametrize("command", [[], ["run"], ["fetch"], ["feeds"], ["search"], ["stats"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if command in (["run"], ["fetch"], ["feeds"], ["stats"]):
        assert "--feeds" in result.output


def test_run_twice_then_stats_and_search(tmp_path: Path) -> None:
    first = newswatch(tmp_path, "run", "--feeds", str(DEMO))
    assert first.returncode == 0, first.stderr
    assert "new articles" in first.stdout and "│ 27 │" in first.stdout.replace("  ", " ")
    assert (tmp_path / "newswatch.db").exists()
    second = newswatch(tmp_path, "run", "--feeds", str(DEMO), "--json")
    assert second.returncode == 0
    summary = json.loads(second.stdout)
    assert summary["feeds_not_modified"] == 5 and summary["stored"] == 0
    stats = newswatch(tmp_path, "stats", "--json", "--feeds", str(DEMO))
    data = json.loads(stats.stdout)
    assert data["articles"] == 27
    assert data["feeds"]["demo-malaymail"]["articles"] == 7
    assert set(data["feeds"]) == {"demo-malaymail", "demo-brecorder", "demo-benarnews", "demo-analysis", "demo-wire"}
    # entities come from the full-mode model on relevant articles; matched whole, in any case
    by_entity = newswatch(tmp_path, "articles", "--entity", "ABU SAYYAF", "--json")
    assert [a["title"][:28] for a in json.loads(by_entity.stdout)] == ["Philippine troops clash with"]
    english = json.loads(newswatch(tmp_path, "articles", "--language", "en", "--limit", "100", "--json").stdout)
    assert len(english) == 27 and json.loads(newswatch(tmp_path, "articles", "--language", "ms", "--json").stdout) == []
    found = newswatch(tmp_path, "search", "Islamic State", "--json")
    titles = [hit["title"] for hit in json.loads(found.stdout)]
    assert titles[0] == "68 Nations Meet in Washington, Vow to Wipe Out Islamic State"
    table = newswatch(tmp_path, "search", "Tehreek-e-Taliban")
    assert table.returncode == 0 and "Pak-US" in table.stdout


def test_demo_outbox_holds_only_new_news_on_any_day(tmp_path: Path) -> None:
    """`make run`'s pass: the items written for the demo are moved to the days before the run, so their alerts
    are new; the 2017 and 2024 seed documents are old news and send nothing; every email's sources are recent."""
    run = newswatch(tmp_path, "run", "--feeds", str(DEMO), "--json")
    assert run.returncode == 0, run.stderr
    outbox = sorted((tmp_path / "outbox").glob("*.eml"))
    emails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in outbox]
    assert sorted(m["Subject"] for m in emails) == [
        "[Newswatch] New bilateral agreement: Malaysia \u2013 Thailand",
        "[Newswatch] New bilateral dialogue: Australia \u2013 Indonesia",
    ]
    now = datetime.now(UTC)
    for m in emails:
        body = m.get_body(preferencelist=("plain",)).get_content()
        for stamp in re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", body):
            published = datetime.strptime(stamp, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
            assert timedelta(0) < now - published <= timedelta(days=3), stamp
    listed = json.loads(newswatch(tmp_path, "alerts", "list", "--json").stdout)
    late = {a["dyad"] for a in listed if a["late"]}
    assert late == {"PK-US", "MY-US"}  # the seeds: digest items "reported late", never immediate
    assert all(a["delivery"] == "digest" for a in listed if a["late"])


def test_fetch_reports_without_storing_or_advancing_validators(tmp_path: Path) -> None:
    fetched = newswatch(tmp_path, "fetch", "--feeds", str(DEMO), "--json")
    assert fetched.returncode == 0, fetched.stderr
    rows = json.loads(fetched.stdout)
    assert {r["feed"]: r["entries"] for r in rows}["demo-brecorder"] == 6
    assert json.loads(newswatch(tmp_path, "stats", "--json").stdout)["articles"] == 0
    run = json.loads(newswatch(tmp_path, "run", "--feeds", str(DEMO), "--json").stdout)
    assert run["stored"] == 27


def test_failed_feed_gives_exit_3_and_shows_in_feeds(tmp_path: Path, feed_server: FeedServer) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        f"  - {{id: good, name: Good, url: '{feed_server.url('/feeds/brecorder.rss.xml')}'}}\n"
        f"  - {{id: gone, name: Gone, url: '{feed_server.url('/status/410')}'}}\n",
        encoding="utf-8",
    )
    result = newswatch(tmp_path / "home", "run", "--feeds", str(feeds))
    assert result.returncode == 3
    assert "gone" in result.stdout and "410" in result.stdout
    health = json.loads(newswatch(tmp_path / "home", "feeds", "--feeds", str(feeds), "--json").stdout)
    by_id = {row["id"]: row for row in health}
    assert by_id["gone"]["disabled"] and by_id["good"]["articles"] == 6
    table = newswatch(tmp_path / "home", "feeds", "--feeds", str(feeds))
    assert "disabled" in table.stdout and "410" in table.stdout


def test_bad_config_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {id: dawn, name: Dawn, enabled: maybe}\n", encoding="utf-8")
    result = newswatch(tmp_path, "run", "--feeds", str(feeds))
    assert result.returncode == 2
    assert str(feeds) in result.stderr and "feeds[0] (id 'dawn').url" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_environment_value_is_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSWATCH_HOME": str(tmp_path), "NEWSWATCH_HTTP__RETRIES": "-1"}
    result = subprocess.run([sys.executable, "-m", "pipeline", "stats"], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "http.retries" in result.stderr and "Traceback" not in result.stderr


def test_usage_error_is_exit_2() -> None:
    result = CliRunner().invoke(cli, ["search"])
    assert result.exit_code == 2
