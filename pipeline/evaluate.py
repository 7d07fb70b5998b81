"""Measure tagging against a labelled gold set: precision, recall and F1 for concepts, countries,
events (type + parties) and alert decisions (the default rule `bilateral-agreements` of config/alerts.yaml)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.config import PROJECT_DIR, ConfigError, describe_validation_error, load_yaml
from pipeline.tagging import TagResult, Tagger

DEFAULT_GOLD = PROJECT_DIR / "tests" / "data" / "gold"
TARGETS = {"events": {"precision": 0.9, "recall": 0.9}, "concepts": {"precision": 0.9, "recall": 0.85}}


class GoldEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    parties: list[str]
    ct_relevant: bool


class GoldArticle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    year: int = 2026
    title: str
    text: str
    concepts: list[str]
    countries: list[str]
    events: list[GoldEvent]
    alert: bool


@dataclass
class Score:
    """Counts and the measures derived from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    def add(self, article_id: str, gold: set[Any], found: set[Any]) -> None:
        self.tp += len(gold & found)
        self.fp += len(found - gold)
        self.fn += len(gold - found)
        self.misses += [f"{article_id}: {item}" for item in sorted(gold - found, key=str)]
        self.extras += [f"{article_id}: {item}" for item in sorted(found - gold, key=str)]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(precision=round(self.precision, 4), recall=round(self.recall, 4), f1=round(self.f1, 4))
        return data


def load_gold(path: Path = DEFAULT_GOLD) -> list[GoldArticle]:
    """Gold articles from a YAML file or from every *.yaml in a folder."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"{path}: no gold files (*.yaml)")
    articles: list[GoldArticle] = []
    for file in files:
        data = load_yaml(file)
        if not isinstance(data, list):
            raise ConfigError(f"{file}: expected a list of gold articles")
        for i, item in enumerate(data):
            try:
                articles.append(GoldArticle.model_validate(item))
            except ValidationError as exc:
                raise ConfigError(describe_validation_error(exc, f"{file} [{i}]", item)) from None
    ids = [a.id for a in articles]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{path}: gold ids repeat: {duplicates}")
    return articles


def default_rule_match() -> Any:
    """The match of the default alert rule `bilateral-agreements` in config/alerts.yaml."""
    from pipeline.alerts import load_rules

    return next(r.match for r in load_rules() if r.id == "bilateral-agreements")


def alert_decision(events: Iterable[Any], concepts: list[str], relevance: float, match: Any) -> bool:
    """Would the default rule fire on these events (of an article with these concepts and relevance)?"""
    article = SimpleNamespace(concepts=concepts, relevance=relevance)
    return any(match.accepts(e, article) for e in events)


def evaluate(tagger: Tagger, gold: list[GoldArticle]) -> dict[str, Score]:
    """Score the tagger on every gold article."""
    scores = {name: Score() for name in ("concepts", "countries", "events", "alerts")}
    match = default_rule_match()
    for article in gold:
        result: TagResult = tagger.tag_texts(article.title, article.text, article.year)
        scores["concepts"].add(article.id, set(article.concepts), set(result.concepts))
        scores["countries"].add(article.id, set(article.countries), set(result.countries))
        scores["events"].add(
            article.id,
            {(e.type, "-".join(sorted(e.parties))) for e in article.events},
            {(e.type, e.dyad) for e in result.events},
        )
        scores["alerts"].add(
            article.id,
            {"alert"} if article.alert else set(),
            {"alert"} if alert_decision(result.events, result.concepts, result.relevance, match) else set(),
        )
    return scores


def below_targets(scores: dict[str, Score]) -> list[str]:
    """Which targets of the gold set are not met."""
    return [
        f"{name} {measure} {getattr(scores[name], measure):.3f} < {target}"
        for name, targets in TARGETS.items()
        for measure, target in targets.items()
        if getattr(scores[name], measure) < target
    ]
