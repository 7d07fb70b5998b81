"""The gold set, `newswatch eval` and `newswatch tag`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_DIR, ConfigError
from pipeline.evaluate import DEFAULT_GOLD, Score, below_targets, evaluate, load_gold
from pipeline.tagging import get_tagger


def test_gold_set_has_enough_labelled_articles_and_the_seeds() -> None:
    gold = load_gold()
    assert len(gold) >= 60
    assert {"seed-000", "seed-001", "seed-002", "seed-003"} <= {g.id for g in gold}
    kinds = {g.id.split("-")[0] for g in gold}
    assert {"agr", "dia", "int", "mat", "multi", "neg", "old", "trade", "ct", "news"} <= kinds


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_targets_hold_on_the_gold_set(mode: str) -> None:
    scores = evaluate(get_tagger(mode, str(PROJECT_DIR / "config")), load_gold())
    assert below_targets(scores) == []
    assert scores["alerts"].recall >= 0.9 and scores["alerts"].precision >= 0.9


def test_score_arithmetic() -> None:
    score = Score()
    score.add("a", {1, 2, 3}, {2, 3, 4})
    score.add("b", set(), set())
    assert (score.tp, score.fp, score.fn) == (2, 1, 1)
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(2 / 3)
    assert score.misses == ["a: 1"] and score.extras == ["a: 4"]


def test_bad_gold_file_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "gold.yaml"
    path.write_text(
        "- {id: x, title: t, text: t, concepts: [], countries: [], events: [{type: agreement}], alert: true}\n"
    )
    with pytest.raises(ConfigError, match=r"gold.yaml \[0\].*events\[0\]\.parties"):
        load_gold(path)


def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=120,
    )


def test_tag_command_reports_bad_lines_and_tags_the_rest(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": "1",
                "title": "Malaysia and Thailand sign MoU",
                "text": "The two countries signed an MoU on counter-terrorism and intelligence sharing.",
            }
        ),
        "{not json",
        json.dumps(["no", "object"]),
        "",
        json.dumps({"id": "2", "title": "Rain in Sabah", "text": "Heavy rain is expected."}),
    ]
    out = tmp_path / "out.jsonl"
    result = run_cli("tag", "--fast", "--output", str(out), stdin="\n".join(lines) + "\n")
    assert result.returncode == 3
    assert "line 2:" in result.stderr and "line 3:" in result.stderr and "Traceback" not in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["1", "2"]
    first = records[0]
    assert first["countries"] == ["MY", "TH"] and {"counter_terrorism", "intelligence_sharing"} <= set(
        first["concepts"]
    )
    assert first["events"] == [
        {
            "type": "agreement",
            "parties": ["MY", "TH"],
            "sentence": "Malaysia and Thailand sign MoU",
            "trigger": "sign",
            "instrument": "mou",
            "status": "signed",
            "ct_relevant": True,
            "confidence": 0.9,
            "evidence": {
                "trigger": "agreement.verbs+instruments",
                "status": "default",
                # the title's frame reads what the talks covered in the lead sentences
                "concept": "counter_terrorism 'counter-terrorism'",
            },
        }
    ]
    assert records[1]["concepts"] == [] and records[1]["events"] == [] and records[1]["relevance"] == 0
    clean = run_cli("tag", "--fast", stdin=lines[0] + "\n")
    assert clean.returncode == 0 and json.loads(clean.stdout)["id"] == "1"


def test_eval_command_prints_the_measures() -> None:
    result = run_cli("eval", "--fast", "--json", "--strict", stdin="")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["articles"] == len(load_gold(DEFAULT_GOLD)) and data["below_targets"] == []
    assert set(data) >= {"concepts", "countries", "events", "alerts"}
