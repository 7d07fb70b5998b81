"""config/events.yaml, validated: the words, patterns and numbers of the bilateral event frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import spacy
from pydantic import BaseModel, ConfigDict, Field, model_validator
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from pipeline.config import config_dir, load_model
from pipeline.models import EVENT_TYPES, STATUSES


class EventType(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cameo: str
    label: str  # how emails name it: "bilateral agreement"
    confidence: float = Field(ge=0, le=1)
    verbs: list[str] = Field(default_factory=list)
    instruments: list[str] = Field(default_factory=list)
    nouns: list[str] = Field(default_factory=list)
    phrases: list[str] = Field(default_factory=list)


class StatusPattern(BaseModel):
    """One DependencyMatcher pattern; its node `event` is the trigger or a word on the way to its verb."""

    model_config = ConfigDict(extra="forbid")

    id: str
    pattern: list[dict[str, Any]] = Field(min_length=1)
    body_only: bool = False  # not in headlines, whose present tense reports what happened ("X Meets Y")
    title_only: bool = False  # only in headlines, whose grammar ("X, Y to Start Talks") the body does not share

    @model_validator(mode="after")
    def _has_event_node(self) -> StatusPattern:
        if "event" not in [node.get("RIGHT_ID") for node in self.pattern]:
            raise ValueError(f"pattern {self.id!r} has no node with RIGHT_ID 'event'")
        if self.body_only and self.title_only:
            raise ValueError(f"pattern {self.id!r} is body_only and title_only: it would never count")
        return self


class CtRule(BaseModel):
    """When a frame is CT-relevant: a concept at least `concept_weight` strong in its sentence or in the
    `following_sentences` after it (what the talks covered is often said next), or an article at least
    `article_relevance` relevant."""

    model_config = ConfigDict(extra="forbid")

    concept_weight: float = Field(ge=0)
    following_sentences: int = Field(ge=0)
    article_relevance: float = Field(ge=0, le=1)


class EventRules(BaseModel):
    """config/events.yaml, validated."""

    model_config = ConfigDict(extra="forbid")

    types: dict[str, EventType]
    ct: CtRule
    instruments: dict[str, dict[str, list[str]]]
    default_instruments: dict[str, str]
    status_patterns: dict[str, list[StatusPattern]]
    status_strength: dict[str, int]
    window: int = 6
    planned_words: list[str]
    proposed_words: list[str]
    negation: list[str]
    negation_window: int = 6
    multilateral: list[str]
    sidelines: list[str]
    old: list[str]
    anaphora: list[str]
    joint_outcome_verbs: frozenset[str] = frozenset()
    joint_outcome_perfect: frozenset[str] = frozenset()
    domestic_meetings: list[str] = []
    held_prepositions: frozenset[str] = frozenset()
    subject_pronouns: list[str]
    plural_pronouns: list[str] = []
    topic_verbs: list[str] = []
    audiences: list[str] = []
    participant_words: frozenset[str] = frozenset()
    place_prepositions: frozenset[str]
    place_nouns: frozenset[str]
    place_determiners: frozenset[str]
    modifier_suffixes: frozenset[str]
    posted_nouns: frozenset[str]
    people_nouns: frozenset[str] = frozenset()
    first_person: list[str]
    with_speaker: list[str]
    sentence_final_abbreviations: list[str]
    term_patterns: dict[str, list[list[dict[str, Any]]]] = {}

    @model_validator(mode="after")
    def _known_names(self) -> EventRules:
        unknown = set(self.types) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"types: unknown event type(s) {sorted(unknown)}; known: {list(EVENT_TYPES)}")
        if set(self.status_strength) != set(STATUSES):
            raise ValueError(f"status_strength: give every status {list(STATUSES)} a strength")
        unknown = set(self.status_patterns) - set(STATUSES)
        if unknown:
            raise ValueError(f"status_patterns: unknown status(es) {sorted(unknown)}; known: {list(STATUSES)}")
        unknown = set(self.instruments) - set(self.types)
        if unknown:
            raise ValueError(f"instruments: unknown event type(s) {sorted(unknown)}")
        missing = set(self.types) - set(self.default_instruments)
        if missing:
            raise ValueError(f"default_instruments: no default for {sorted(missing)}")
        unknown = set(self.term_patterns) - set(self.term_lists())
        if unknown:
            raise ValueError(f"term_patterns: unknown label(s) {sorted(unknown)}; known: {sorted(self.term_lists())}")
        for label, patterns in self.term_patterns.items():
            try:
                Matcher(Vocab(), validate=True).add(label, patterns)
            except ValueError as err:
                raise ValueError(f"term_patterns.{label}: not a spaCy Matcher pattern: {err}") from None
        return self

    def term_lists(self) -> dict[str, list[str]]:
        """Every list of words, keyed by the label its matches get."""
        lists = {
            "negation": self.negation,
            "multilateral": self.multilateral,
            "sidelines": self.sidelines,
            "old": self.old,
            "anaphora": self.anaphora,
            "subject_pronoun": self.subject_pronouns,
            "plural_pronoun": self.plural_pronouns,
            "topic_verb": self.topic_verbs,
            "audience": self.audiences,
            "planned": self.planned_words,
            "proposed": self.proposed_words,
            "first_person": self.first_person,
            "with_speaker": self.with_speaker,
            "domestic_meeting": self.domestic_meetings,
        }
        for name, etype in self.types.items():
            for part in ("verbs", "instruments", "nouns", "phrases"):
                if getattr(etype, part):
                    lists[f"{name}.{part}"] = getattr(etype, part)
        for etype, instruments in self.instruments.items():
            for instrument, words in instruments.items():
                lists[f"instrument.{etype}.{instrument}"] = words
        return lists


def load_event_rules(path: Path | None = None) -> EventRules:
    return load_model(EventRules, path or config_dir() / "events.yaml")


class TermMatcher:
    """Every word list of the rules (a PhraseMatcher on lower-cased tokens) and their token patterns
    (`term_patterns`, a Matcher), under the same labels. Build it outside any memory zone: its labels must
    stay in the vocab's string store."""

    def __init__(self, vocab: Vocab, rules: EventRules) -> None:
        tokenizer = spacy.blank("en").tokenizer
        self.phrases = PhraseMatcher(vocab, attr="LOWER")
        for label, words in rules.term_lists().items():
            self.phrases.add(label, [tokenizer(w.lower()) for w in words])
        self.patterns = Matcher(vocab)
        for label, patterns in rules.term_patterns.items():
            self.patterns.add(label, patterns)

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        """(label id, start, end) of every match, in order."""
        return sorted([*self.phrases(doc), *self.patterns(doc)], key=lambda m: (m[1], m[2]))
