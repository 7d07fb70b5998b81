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
import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import PROJECT_DIR
from pipeline.corpus import FeedbackItem
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


def test_analysts_review_alerts_and_export_their_judgements(tmp_path: Path) -> None:
    """ack and false-positive by id prefix, recorded with who and when; export-feedback writes them as labelled
    corpus items (licence left unchecked); a wrong id is a usage error (exit 2) that changes nothing."""
    assert newswatch(tmp_path, "run", "--feeds", str(DEMO), "--json").returncode == 0
    listed = json.loads(newswatch(tmp_path, "alerts", "list", "--json").stdout)
    sent = {a["dyad"]: a["id"] for a in listed if a["delivery"] == "immediate"}
    assert set(sent) == {"MY-TH", "AU-ID"}
    ack = newswatch(tmp_path, "alerts", "ack", sent["MY-TH"][:8], "--by", "desk-a", "--note", "confirmed by embassy")
    assert ack.returncode == 0 and "acknowledged" in ack.stdout
    assert newswatch(tmp_path, "alerts", "false-positive", sent["AU-ID"], "--by", "desk-b").returncode == 0
    wrong = newswatch(tmp_path, "alerts", "ack", "feedfacefeed", "--by", "desk-a")
    assert wrong.returncode == 2 and "no alert 'feedfacefeed'" in wrong.stderr
    records = {a["id"]: a for a in json.loads(newswatch(tmp_path, "alerts", "list", "--json").stdout)}
    assert records[sent["MY-TH"]]["review"] == "acknowledged" and records[sent["AU-ID"]]["review"] == "false_positive"
    assert sum(r["review"] != "open" for r in records.values()) == 2  # the digest rule's records are untouched
    [action] = records[sent["MY-TH"]]["actions"]
    assert (action["action"], action["by"], action["note"]) == ("ack", "desk-a", "confirmed by embassy")
    assert datetime.fromisoformat(action["at"]) <= datetime.now(UTC)

    export = newswatch(tmp_path, "alerts", "export-feedback", str(tmp_path / "feedback.yaml"))
    assert export.returncode == 0, export.stderr
    items = {i.url: i for i in (FeedbackItem.model_validate(x) for x in yaml.safe_load(export_text(tmp_path)))}
    assert len(items) == 2
    confirmed = next(i for i in items.values() if i.alert)
    assert confirmed.events[0].dyad == "MY-TH" and confirmed.events[0].type == "agreement"
    assert confirmed.note.startswith("ack by desk-a on ") and confirmed.licence.startswith("unchecked")
    rejected = next(i for i in items.values() if not i.alert)
    assert rejected.events == [] and "ct-dialogue" in rejected.url and "false-positive by desk-b" in rejected.note


def export_text(home: Path) -> str:
    return (home / "feedback.yaml").read_text(encoding="utf-8")


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
