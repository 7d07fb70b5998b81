"""Measure tagging against labelled items: precision, recall and F1 for events (type + parties) and alert
decisions (the default rule `bilateral-agreements` of config/alerts.yaml), and for concepts and countries
where the items label them (the written gold set, tests/data/gold). The real-news corpus (pipeline.corpus)
labels each event's status too: the share of found events whose status is right is reported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, RootModel

from pipeline.config import PROJECT_DIR, ConfigError, load_model
from pipeline.corpus import NewsItem
from pipeline.fields import unique
from pipeline.models import Event
from pipeline.tagging import Tagger

DEFAULT_GOLD = PROJECT_DIR / "tests" / "data" / "gold"
TARGETS = {"events": {"precision": 0.9, "recall": 0.9}, "concepts": {"precision": 0.9, "recall": 0.85}}
# issue 15's bar on the frozen test split of the real-news corpus
NEWS_TARGETS = {"alerts": {"precision": 0.9, "recall": 0.85}, "events": {"f1": 0.8}}


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

    speaks_for: ClassVar[None] = None  # written articles are no official statements (NewsItem.speaks_for)


class GoldFile(RootModel[list[GoldArticle]]):
    pass


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
    articles = [article for file in files for article in load_model(GoldFile, file).root]
    try:
        unique((a.id for a in articles), "gold id")
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return articles


def default_rule_match() -> Any:
    """The match of the default alert rule `bilateral-agreements` in config/alerts.yaml."""
    from pipeline.alerts import load_rules

    return next(r.match for r in load_rules() if r.id == "bilateral-agreements")


def alert_decision(events: Iterable[Any], concepts: list[str], relevance: float, match: Any) -> bool:
    """Would the default rule fire on these events (of an article with these concepts and relevance)?"""
    article = SimpleNamespace(concepts=concepts, relevance=relevance)
    return any(match.accepts(e, article) for e in events)


@dataclass
class Accuracy:
    """How many of the found events that match a labelled one have the labelled status."""

    right: int = 0
    total: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.right / self.total if self.total else 1.0


def evaluate(tagger: Tagger, gold: list[GoldArticle] | list[NewsItem], baseline: bool = False) -> dict[str, Any]:
    """Score the tagger (or, with `baseline`, the keyword baseline) on every labelled item: Scores for
    events and alerts (and concepts and countries on the gold set), and the status Accuracy."""
    from pipeline.baseline import baseline_events

    scores: dict[str, Any] = {name: Score() for name in ("events", "alerts")}
    status = Accuracy()
    match = default_rule_match()
    for item in gold:
        result = tagger.tag_texts(item.title, item.text, item.year, item.speaks_for)
        events: list[Event] = baseline_events(tagger, item.title, item.text) if baseline else result.events
        if isinstance(item, GoldArticle):
            scores.setdefault("concepts", Score()).add(item.id, set(item.concepts), set(result.concepts))
            scores.setdefault("countries", Score()).add(item.id, set(item.countries), set(result.countries))
        scores["events"].add(
            item.id,
            {(e.type, "-".join(sorted(e.parties))) for e in item.events},
            {(e.type, e.dyad) for e in events},
        )
        decision = alert_decision(events, result.concepts, result.relevance, match)
        scores["alerts"].add(item.id, {"alert"} if item.alert else set(), {"alert"} if decision else set())
        if isinstance(item, NewsItem):
            labelled = {(e.type, e.dyad): e.status for e in item.events}
            for event in events:
                if (event.type, event.dyad) in labelled:
                    status.total += 1
                    if labelled[(event.type, event.dyad)] == event.status:
                        status.right += 1
                    else:
                        status.wrong.append(
                            f"{item.id}: {event.type} {event.dyad} {event.status}, "
                            f"labelled {labelled[(event.type, event.dyad)]}"
                        )
    scores["status"] = status
    return scores


def below_targets(scores: dict[str, Any], targets: dict[str, dict[str, float]] = TARGETS) -> list[str]:
    """Which targets of the gold set are not met."""
    return [
        f"{name} {measure} {getattr(scores[name], measure):.3f} < {target}"
        for name, measures in targets.items()
        for measure, target in measures.items()
        if name in scores and getattr(scores[name], measure) < target
    ]


def score_copies(pairs: list[Any], settings: Any) -> tuple[Score, list[tuple[str, str, bool, float]]]:
    """The near-duplicate detector on labelled pairs (pipeline.duplicates.CopyPair): a Score over "copy"
    judgements, and per pair (id, label, linked, estimated similarity)."""
    from pipeline.duplicates import judged_copies

    score, rows = Score(), []
    for pair in pairs:
        linked, similarity = judged_copies(pair, settings)
        score.add(pair.id, {"copy"} if pair.label == "duplicate" else set(), {"copy"} if linked else set())
        rows.append((pair.id, pair.label, linked, similarity))
    return score, rows


def annotator_agreement(first: list[NewsItem], second: list[Any]) -> dict[str, Any]:
    """How two annotators' labels of the same items agree (corpus.SecondLabel against the corpus's labels): the
    second annotator scored against the first on alerts and on events (type + parties), Cohen's kappa on the
    alert decision, and the items whose alert they decide differently."""
    labels = {item.id: item for item in first}
    unknown = [label.id for label in second if label.id not in labels]
    if unknown:
        raise ConfigError(f"second labels of items not in the split: {unknown}")
    scores = {name: Score() for name in ("alerts", "events")}
    disagreements = []
    for label in second:
        item = labels[label.id]
        scores["alerts"].add(item.id, {"alert"} if item.alert else set(), {"alert"} if label.alert else set())
        scores["events"].add(item.id, {(e.type, e.dyad) for e in item.events}, {(e.type, e.dyad) for e in label.events})
        if item.alert != label.alert:
            disagreements.append({"id": item.id, "first": item.alert, "second": label.alert, "doubt": label.doubt})
    alerts, n = scores["alerts"], max(len(second), 1)
    observed = 1 - (alerts.fp + alerts.fn) / n
    first_yes, second_yes = (alerts.tp + alerts.fn) / n, (alerts.tp + alerts.fp) / n
    chance = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    kappa = (observed - chance) / (1 - chance) if chance < 1 else 1.0
    return {
        "items": len(second),
        "alert_agreement": round(observed, 4),
        "alert_kappa": round(kappa, 4),
        **{
            name: {k: v for k, v in score.summary().items() if k not in ("misses", "extras")}
            for name, score in scores.items()
        },
        "disagreements": disagreements,
    }
