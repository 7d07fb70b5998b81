"""Bilateral events (agreement, dialogue, material, intent) between exactly two countries, per sentence.

The words are data (config/events.yaml), compiled into a spaCy PhraseMatcher over lower-cased tokens.
With the dependency parse (full mode) negation is also read off the trigger's governing words, so that
"talks ... collapsed" and "no agreement was signed" are not events.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from pipeline.config import ConfigError, config_dir, describe_validation_error, load_yaml
from pipeline.models import Event
from pipeline.taxonomy import Taxonomy

TYPE_ORDER = ("agreement", "dialogue", "material", "intent")
CT_SENTENCE_WEIGHT = 0.5  # a concept at least this strong in the sentence makes the event ct_relevant
CT_ARTICLE_RELEVANCE = 0.45  # ... or an article at least this relevant
MAX_SENTENCE = 600
PLACE_PREPOSITIONS = frozenset({"in", "at", "from", "into", "inside", "near", "across", "on", "about", "over", "within", "throughout", "off"})


class EventType(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cameo: str
    confidence: float = Field(ge=0, le=1)
    verbs: list[str] = Field(default_factory=list)
    instruments: list[str] = Field(default_factory=list)
    nouns: list[str] = Field(default_factory=list)
    phrases: list[str] = Field(default_factory=list)


class EventRules(BaseModel):
    """config/events.yaml, validated."""

    model_config = ConfigDict(extra="forbid")

    types: dict[str, EventType]
    negation: list[str]
    negation_window: int = 6
    multilateral: list[str]
    old: list[str]
    anaphora: list[str]

    def term_lists(self) -> dict[str, list[str]]:
        """Every list of words, keyed by the label its matches get."""
        lists = {"negation": self.negation, "multilateral": self.multilateral, "old": self.old, "anaphora": self.anaphora}
        for name, etype in self.types.items():
            for part in ("verbs", "instruments", "nouns", "phrases"):
                if getattr(etype, part):
                    lists[f"{name}.{part}"] = getattr(etype, part)
        return lists


def load_event_rules(path: Path | None = None) -> EventRules:
    path = path or config_dir() / "events.yaml"
    data = load_yaml(path)
    try:
        rules = EventRules.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path), data)) from None
    unknown = set(rules.types) - set(TYPE_ORDER)
    if unknown:
        raise ConfigError(f"{path}: types: unknown event type(s) {sorted(unknown)}; known: {list(TYPE_ORDER)}")
    return rules


def term_matcher(vocab: Vocab, rules: EventRules) -> PhraseMatcher:
    """A PhraseMatcher over every word list of the rules. Build it outside any memory zone: its labels
    must stay in the vocab's string store."""
    tokenizer = spacy.blank("en").tokenizer
    matcher = PhraseMatcher(vocab, attr="LOWER")
    for label, words in rules.term_lists().items():
        matcher.add(label, [tokenizer(w.lower()) for w in words])
    return matcher


@dataclass
class Sentence:
    span: Span
    terms: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # (code, kind, located) in order; `located`: the object of a place preposition ("talks in Manila",
    # "fighters returning from Syria"), which names where, not who
    countries: list[tuple[str, str, bool]] = field(default_factory=list)


def detect_events(
    title_doc: Doc,
    text_doc: Doc,
    rules: EventRules,
    matcher: PhraseMatcher,
    taxonomy: Taxonomy,
    relevance: float,
    year: int | None,
    parsed: bool = False,
) -> list[Event]:
    """Events of an article: the title as one sentence, then each sentence of the text."""
    history: list[str] = []
    events: dict[tuple[str, str], Event] = {}
    for sentence in _sentences(title_doc, text_doc, matcher):
        event = _sentence_event(sentence, history, rules, taxonomy, relevance, year, parsed)
        history.extend(code for code, _, located in sentence.countries if not located)
        if event is None:
            continue
        key = (event.type, event.dyad)
        kept = events.get(key)
        if kept is None or kept.confidence < event.confidence:
            events[key] = event
        if kept is not None:  # one event per type and dyad: CT-relevant if any of its sentences is
            events[key].ct_relevant = kept.ct_relevant or event.ct_relevant
    return list(events.values())


def _sentences(title_doc: Doc, text_doc: Doc, matcher: PhraseMatcher) -> list[Sentence]:
    """The title as one sentence, then the text's sentences, each with its event words and countries."""
    out: list[Sentence] = []
    for doc, spans in ((title_doc, [title_doc[:]]), (text_doc, list(text_doc.sents) if len(text_doc) else [])):
        if not len(doc):
            continue
        sentences = [Sentence(span) for span in spans]
        starts = [span.start for span in spans]
        for match_id, start, end in matcher(doc):
            sentence = sentences[bisect_right(starts, start) - 1]
            if end <= sentence.span.end:
                sentence.terms.setdefault(doc.vocab.strings[match_id], []).append((start, end))
        for country in doc.spans["countries"]:
            sentence = sentences[bisect_right(starts, country.start) - 1]
            if country.end <= sentence.span.end:
                sentence.countries.append((country.label_, country.kb_id_, _located(country)))
        out.extend(sentences)
    return out


def _sentence_event(
    sentence: Sentence,
    history: list[str],
    rules: EventRules,
    taxonomy: Taxonomy,
    relevance: float,
    year: int | None,
    parsed: bool,
) -> Event | None:
    terms = sentence.terms
    codes = list(dict.fromkeys(code for code, _, located in sentence.countries if not located))
    via_anaphora = False
    if len(codes) < 2 and "anaphora" in terms:
        for code in reversed(history):
            if code not in codes:
                codes.append(code)
                via_anaphora = True
            if len(codes) == 2:
                break
    if len(codes) != 2 or "multilateral" in terms:
        return None
    found = _trigger(terms, rules)
    if found is None:
        return None
    etype, (t_start, t_end), distance = found
    span, doc = sentence.span, sentence.span.doc
    if etype in ("agreement", "dialogue") and _announced(terms, t_start, rules.negation_window):
        etype = "intent"  # "agreed to sign", "plan to hold talks": nothing signed or held yet
    if _negated(doc, t_start, t_end, terms.get("negation", []), rules.negation_window, rules, parsed):
        return None
    if _old(span, year) or (etype == "agreement" and "old" in terms):
        return None
    confidence = rules.types[etype].confidence
    if via_anaphora:
        confidence -= 0.15
    if all(kind == "capital" for code, kind, _ in sentence.countries if code in codes) and sentence.countries:
        confidence -= 0.1
    if distance > 12:
        confidence -= 0.15
    parties = sorted(codes)
    return Event(
        type=etype,
        parties=parties,
        dyad="-".join(parties),
        sentence=span.text.strip()[:MAX_SENTENCE],
        trigger=doc[t_start:t_end].text,
        ct_relevant=_ct_sentence(span, taxonomy) or relevance >= CT_ARTICLE_RELEVANCE,
        confidence=round(max(confidence, 0.1), 2),
    )


def _trigger(
    terms: dict[str, list[tuple[int, int]]], rules: EventRules
) -> tuple[str, tuple[int, int], int] | None:
    """The first event type whose words are in the sentence: (type, trigger token range, distance)."""
    for etype in TYPE_ORDER:
        if etype not in rules.types:
            continue
        verbs = terms.get(f"{etype}.verbs", [])
        if etype == "agreement":
            instruments = terms.get("agreement.instruments", [])
            if verbs and instruments:
                verb, inst = min(((v, i) for v in verbs for i in instruments), key=lambda p: abs(p[0][0] - p[1][0]))
                return etype, verb, abs(verb[0] - inst[0])
        elif etype == "dialogue":
            nouns = terms.get("dialogue.nouns", [])
            if nouns and verbs:
                return etype, nouns[0], 0
        else:
            words = terms.get(f"{etype}.nouns", []) + terms.get(f"{etype}.phrases", [])
            if words:
                return etype, min(words), 0
    return None


def _located(span: Span) -> bool:
    """True when the country is the object of a place preposition, possibly after "the"."""
    i = span.start - 1
    if i >= 0 and span.doc[i].lower_ == "the":
        i -= 1
    return i >= 0 and span.doc[i].lower_ in PLACE_PREPOSITIONS


def _announced(terms: dict[str, list[tuple[int, int]]], trigger_start: int, window: int) -> bool:
    """An intent phrase ("agreed to", "plans to") shortly before the trigger."""
    return any(trigger_start - window <= start < trigger_start for start, _ in terms.get("intent.phrases", []))


def _negated(
    doc: Doc,
    start: int,
    end: int,
    negations: list[tuple[int, int]],
    window: int,
    rules: EventRules,
    parsed: bool,
) -> bool:
    """A negation word shortly before or right after the trigger, or (parsed) on its governing words."""
    for n_start, n_end in negations:
        if start - window <= n_start < start or end <= n_start < end + 3:
            return True
    if parsed:
        words = {w.lower() for w in rules.negation if " " not in w}
        token = doc[start]
        for node in [token, *list(token.ancestors)[:3]]:
            if node.lower_ in words or node.lemma_.lower() in words:
                return True
            if any(child.dep_ == "neg" or (child.dep_ == "det" and child.lower_ == "no") for child in node.children):
                return True
    return False


def _old(span: Span, year: int | None) -> bool:
    """An explicit year before the article's year in the sentence."""
    if year is None:
        return False
    for token in span:
        if token.is_digit and len(token.text) == 4 and 1900 <= int(token.text) < year:
            return True
    return False


def _ct_sentence(span: Span, taxonomy: Taxonomy) -> bool:
    return any(
        s.start >= span.start and s.end <= span.end and taxonomy.weight_of(s.label_) >= CT_SENTENCE_WEIGHT
        for s in span.doc.spans["concepts"]
    )

