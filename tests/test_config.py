"""Configuration is validated on load, with errors that name the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import PROJECT_DIR, ConfigError, load_feeds, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["feeds.yaml", "feeds.demo.yaml"])
def test_shipped_feed_files_are_valid(name: str) -> None:
    feeds = load_feeds(PROJECT_DIR / "config" / name)
    assert len(feeds) >= 5
    for feed in feeds:
        assert feed.id and feed.name and feed.url and feed.language


def test_real_feeds_cover_the_seed_sources() -> None:
    ids = {f.id for f in load_feeds(PROJECT_DIR / "config" / "feeds.yaml")}
    assert {"malaymail", "brecorder", "benarnews", "dawn", "thestar", "cna-asia", "reuters-world"} <= ids


def test_demo_paths_resolve_against_the_file(tmp_path: Path) -> None:
    for feed in load_feeds(PROJECT_DIR / "config" / "feeds.demo.yaml"):
        assert Path(feed.url).is_file(), feed.url


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "feeds:\n  - {id: ok, name: A, url: http://a/}\n  - {id: dawn, name: Dawn}\n",
            "feeds[1] (id 'dawn').url: Field required",
        ),
        ("feeds:\n  - {id: Bad Id, name: A, url: http://a/}\n", "feeds[0] (id 'Bad Id').id: Value error"),
        ("feeds:\n  - {id: a, name: A, url: gopher://a/}\n", "feeds[0] (id 'a').url"),
        ("feeds:\n  - {id: a, name: A, url: http://a/, country: Malaysia}\n", "country: Value error, must be an ISO"),
        ("feeds:\n  - {id: a, name: A, url: http://a/, speaks_for: XX}\n", "speaks_for: Value error, must be an ISO"),
        ("feeds:\n  - {id: a, name: A, url: http://a/, fulltext: sometimes}\n", "fulltext"),
        ("feeds:\n  - {id: a, name: A, url: http://a/, colour: red}\n", "colour: Extra inputs"),
        ("feeds:\n  - {id: a, name: A, url: http://a/}\n  - {id: a, name: B, url: http://b/}\n", "used twice"),
        ("feeds: [\n", "not valid YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_bad_feeds_file_names_file_and_entry(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_feeds(tmp_path / "nope.yaml")


def test_settings_precedence_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "newswatch.yaml").write_text("http:\n  concurrency: 7\n  retries: 1\n", encoding="utf-8")
    monkeypatch.setenv("NEWSWATCH_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("NEWSWATCH_HTTP__RETRIES", "4")
    monkeypatch.setenv("NEWSWATCH_HOME", str(tmp_path / "h"))
    settings = load_settings()
    assert settings.http.concurrency == 7 and settings.http.retries == 4
    assert settings.home == tmp_path / "h"
    assert settings.store_location == f"sqlite:///{tmp_path / 'h' / 'newswatch.db'}"
    assert settings.feeds_path == cfg / "feeds.yaml"
    monkeypatch.setenv("NEWSWATCH_HTTP__CONCURRENCY", "many")
    with pytest.raises(ConfigError, match=r"newswatch.yaml or NEWSWATCH_\* environment: http.concurrency"):
        load_settings()


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["status_patterns"].update(done=[]),
            r"Value error, status_patterns: unknown status\(es\) \['done'\]",
        ),
        (
            lambda d: d["status_patterns"]["failed"][0]["pattern"][0].update(RIGHT_ID="verb"),
            r"status_patterns\.failed\[0\] \(id 'negated'\): Value error, pattern 'negated' has no node with RIGHT_ID",
        ),
        (
            lambda d: d["status_patterns"]["failed"][0].update(body_only=True, title_only=True),
            r"pattern 'negated' is body_only and title_only",
        ),
        (lambda d: d["instruments"].update(treaty={"mou": ["mou"]}), r"unknown event type\(s\) \['treaty'\]"),
        (lambda d: d["status_strength"].pop("earlier"), r"status_strength: give every status"),
        (lambda d: d.update(place_nouns="border"), r"place_nouns: Input should be a valid"),
        (
            lambda d: d["term_patterns"].update(talks=[[{"LOWER": "talks"}]]),
            r"term_patterns: unknown label\(s\) \['talks'\]",
        ),
        (
            lambda d: d["term_patterns"]["dialogue.phrases"][0][0].update(LOWEST="after"),
            r"term_patterns.dialogue.phrases: not a spaCy Matcher pattern",
        ),
    ],
)
def test_event_rules_errors_name_the_file_and_entry(tmp_path: Path, change: object, message: str) -> None:
    import yaml

    from pipeline.event_rules import load_event_rules

    data = yaml.safe_load((PROJECT_DIR / "config" / "events.yaml").read_text())
    change(data)  # type: ignore[operator]
    path = tmp_path / "events.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message) as caught:
        load_event_rules(path)
    assert str(path) in str(caught.value)
