"""Bilateral event frames (agreement, dialogue, material, intent) between exactly two countries.

The words and patterns are data (config/events.yaml, validated by pipeline.event_rules). A TermMatcher
(word lists over lower-cased tokens, and token patterns) finds each sentence's event words; a sentence with
exactly two countries and a trigger is a candidate. A candidate's frame gets its instrument from the words,
and its status (signed, held, planned, proposed, failed, earlier) from the dependency parse when one is given
(full mode: pipeline.status), else from word windows (fast mode).
One happening is one event: per country pair, the strongest frame of the article wins.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from spacy.tokens import Doc, Span, Token

from pipeline.event_rules import EventRules, TermMatcher
from pipeline.models import ALERT_TYPES, EVENT_TYPES, LISTED_STATUSES, NEW_STATUSES, Event, Evidence, done_status
from pipeline.taxonomy import Taxonomy

if TYPE_CHECKING:
    from pipeline.status import StatusReader

TYPE_ORDER = EVENT_TYPES
MAX_SENTENCE = 600


Terms = dict[str, list[tuple[int, int]]]


class NamedCountry(NamedTuple):
    """A country a sentence names: its code, how it is named (name, demonym, capital, official, ...), whether
    it is `located` (see Sentence) and its first token's offset in the Doc."""

    code: str
    kind: str
    located: bool
    start: int


@dataclass
class Sentence:
    span: Span
    terms: Terms = field(default_factory=dict)
    # in order; `located`: the object of a place preposition ("talks in Manila", "fighters returning from
    # Syria"), which names where, not who
    countries: list[NamedCountry] = field(default_factory=list)
    title: bool = False
    topics: set[str] = field(default_factory=set)  # countries named as what talks were about (see _topic)


@dataclass
class Candidate:
    """A sentence that can hold an event: two parties and a trigger."""

    sentence: Sentence
    following: list[Sentence]
    parties: list[str]
    via_anaphora: bool
    type: str
    trigger: tuple[int, int]
    distance: int
    rule: str
    beside_others: bool = False  # a sentence after it holds another pair's frame (see _about_their_own)


def candidates(
    title_doc: Doc, text_doc: Doc, rules: EventRules, matcher: TermMatcher, speaks_for: str | None = None
) -> list[Candidate]:
    """Every sentence of the title and text that names two parties and carries a trigger, in order, then
    the article's own frame when no sentence names both parties (see _article_candidates)."""
    history: list[str] = []
    found: list[Candidate] = []
    sentences = split_sentences(title_doc, text_doc, matcher, rules)
    headline = list(dict.fromkeys(c.code for c in sentences[0].countries if not c.located)) if sentences else []
    # the headline's meeting had the speaker's government as a third party: the two's talks are that meeting
    three_met = len(headline) == 2 and _speaker_third(sentences[0], headline, speaks_for)
    before: list[str] = []  # the distinct countries the sentence before named
    for n, sentence in enumerate(sentences):
        named = [c.code for c in sentence.countries if not c.located]
        parties, via = _parties(sentence, named, history)
        if not named and len(before) == 2 and "plural_pronoun" in sentence.terms:
            parties, via = before, True  # "Bush met Blair. After talks they vowed ...": "they" are the two
        before = list(dict.fromkeys(named))
        if len(parties) == 1 and speaks_for and parties[0] != speaks_for and "first_person" in sentence.terms:
            parties, via = [parties[0], speaks_for], True  # "I met President Zardari" in a State Department page
        if len(parties) > 2 and len(headline) == 2 and set(headline) <= set(parties):
            parties = headline  # more countries named, but the two of the headline among them: theirs is the event
        history.extend(named)
        if len(parties) > 2:
            parties = _met_with(sentence) or parties
        if len(parties) != 2 or _multilateral(sentence):
            continue
        for trigger in _sentence_triggers(sentence.terms, rules):
            if trigger[0] == "dialogue" and (
                "domestic_meeting" in sentence.terms or (three_met and set(parties) == set(headline))
            ):
                continue  # a meeting of one government's own body, or the speaker's three-way meeting
            found.append(Candidate(sentence, _following(sentences, n, rules), parties, via, *trigger))
    found += [] if three_met else _article_candidates(sentences, headline, found, rules, speaks_for)
    return _about_their_own(found)


def _about_their_own(found: list[Candidate]) -> list[Candidate]:
    """A following sentence that holds frames of other country pairs only speaks of another happening: it
    does not say what this frame was about ("... agreed to meet Macron and Merkel to discuss counter-terrorism"
    after a call of two others)."""
    pairs: dict[int, set[frozenset[str]]] = {}
    for candidate in found:
        pairs.setdefault(id(candidate.sentence), set()).add(frozenset(candidate.parties))
    for candidate in found:
        own = frozenset(candidate.parties)
        following = [s for s in candidate.following if own in pairs.get(id(s), {own})]
        candidate.beside_others = len(following) < len(candidate.following)
        candidate.following = following
    return found


def _met_with(sentence: Sentence) -> list[str]:
    """In a sentence that names more than two countries, the two on either side of a meeting phrase that ends
    in "with" ("Kerry met with China's foreign minister Wang Yi in Beijing, stressing the North Korean issue"):
    the nearest country before it and the first after it."""
    doc = sentence.span.doc
    phrases = [(s, e) for s, e in sentence.terms.get("dialogue.phrases", []) if doc[e - 1].lower_ == "with"]
    if not phrases:
        return []
    start, end = phrases[0]
    named = [c for c in sentence.countries if not c.located]
    before = [c.code for c in named if c.start < start]
    after = [c.code for c in named if c.start >= end]
    if before and after and before[-1] != after[0]:
        return [before[-1], after[0]]
    return []


def _multilateral(sentence: Sentence) -> bool:
    """Whether the sentence speaks of more than two parties: a multilateral word not inside what a meeting
    was held on the sidelines of."""
    sidelines = min((start for start, _ in sentence.terms.get("sidelines", [])), default=None)
    return any(sidelines is None or start < sidelines for start, _ in sentence.terms.get("multilateral", []))


def _speaker_third(sentence: Sentence, parties: list[str], speaks_for: str | None) -> bool:
    """An official statement's headline that puts its speaker at a meeting of two other countries ("Remarks
    With the Turkish and Iraqi Foreign Ministers" from the State Department): three governments met."""
    return sentence.title and speaks_for is not None and speaks_for not in parties and "with_speaker" in sentence.terms


def _following(sentences: list[Sentence], n: int, rules: EventRules) -> list[Sentence]:
    """The sentences after sentence n (of the same text) that can say what its event was about."""
    doc = sentences[n].span.doc
    after = sentences[n + 1 :]
    if n == 0 and after and after[0].span.doc is not doc:  # the title: what the talks covered is in the lead
        doc = after[0].span.doc
    return [s for s in after[: rules.ct.following_sentences] if s.span.doc is doc]


def _article_candidates(
    sentences: list[Sentence], headline: list[str], found: list[Candidate], rules: EventRules, speaks_for: str | None
) -> list[Candidate]:
    """When no sentence names both parties of an agreement or dialogue, the article may: its headline names two
    countries (or one, in an official statement of another government: "Remarks With Pakistani Foreign
    Minister ..." from the State Department), and one of its sentences carries an agreement or dialogue
    trigger ("Readout of the Secretary's meeting with ..."; "Today we
    discussed ..."). One such frame, read from the first triggering sentence, with the confidence of an
    anaphora; none when the lead sentence speaks of a multilateral gathering."""
    if len(headline) == 2:
        parties = headline
    elif len(headline) == 1 and speaks_for and headline[0] != speaks_for:
        parties = [headline[0], speaks_for]
    else:
        parties = []
    if not parties or any(c.type in ALERT_TYPES and set(c.parties) == set(parties) for c in found):
        return []
    lead = next((s for s in sentences if not s.title), None)
    if lead is not None and _multilateral(lead):
        return []  # "Remarks With the Italian Foreign Minister" at a coalition's ministerial: not theirs alone
    for n, sentence in enumerate(sentences):
        if _multilateral(sentence) or _elsewhere(sentence, parties) or "domestic_meeting" in sentence.terms:
            continue
        trigger = _trigger(sentence.terms, rules)
        if trigger is not None and trigger[0] in ALERT_TYPES:
            etype, span, distance, rule = trigger
            return [
                Candidate(
                    sentence, _following(sentences, n, rules), parties, True, etype, span, distance, f"article:{rule}"
                )
            ]
    return []


def _elsewhere(sentence: Sentence, parties: list[str]) -> bool:
    """A sentence that names only other countries, or one of the parties only as a place, speaks of another
    happening ("a National Security Council meeting in Islamabad")."""
    named = {c.code for c in sentence.countries if not c.located}
    places = {c.code for c in sentence.countries if c.located} - sentence.topics
    return bool(named and not named & set(parties)) or bool(not named and places & set(parties))


def detect_events(
    title_doc: Doc,
    text_doc: Doc,
    rules: EventRules,
    matcher: TermMatcher,
    taxonomy: Taxonomy,
    relevance: float,
    year: int | None,
    reader: StatusReader | None = None,
    speaks_for: str | None = None,
) -> list[Event]:
    """Events of an article: the title as one sentence, then each sentence of the text. With a `reader`
    (pipeline.status.StatusReader, full mode) the status comes from the dependency parse; without one from
    word windows. `speaks_for`: the government an official statement speaks for, a party when the
    statement names only the other one."""
    frames: dict[str, Event] = {}
    if not _core_concept((title_doc, text_doc), taxonomy, rules):
        relevance = 0.0  # relevant only through weak concepts: article relevance never makes a frame CT
    failed_news: set[str] = set()  # dyads whose talks the headline or lead reports as failed
    for candidate in candidates(title_doc, text_doc, rules, matcher, speaks_for):
        event = _frame(candidate, rules, taxonomy, relevance, year, reader)
        if event.status == "failed" and event.type == "dialogue" and _headline_or_lead(candidate.sentence):
            failed_news.add(event.dyad)
        if event.status not in LISTED_STATUSES:
            continue
        kept = frames.get(event.dyad)
        if kept is None or _strength(event, rules) > _strength(kept, rules):
            if kept is not None:
                event.ct_relevant = event.ct_relevant or kept.ct_relevant
            frames[event.dyad] = event
        else:
            kept.ct_relevant = kept.ct_relevant or event.ct_relevant
    # "talks end without agreement ... the third round began on Thursday": the news is the failure
    return [e for e in frames.values() if not (e.type == "dialogue" and e.dyad in failed_news)]


def _headline_or_lead(sentence: Sentence) -> bool:
    return sentence.title or sentence.span.start == 0


def _strength(event: Event, rules: EventRules) -> tuple[int, int, float]:
    """Which frame of a country pair stands for the happening: status, then type, then confidence."""
    return rules.status_strength[event.status], -TYPE_ORDER.index(event.type), event.confidence


def split_sentences(title_doc: Doc, text_doc: Doc, matcher: TermMatcher, rules: EventRules) -> list[Sentence]:
    """The title as one sentence, then the text's sentences, each with its event words and countries (a
    country inside a group's name, such as "Islamic State of Iraq and Syria", is none)."""
    out: list[Sentence] = []
    for doc, spans in ((title_doc, [title_doc[:]]), (text_doc, list(text_doc.sents) if len(text_doc) else [])):
        if not len(doc):
            continue
        sentences = [Sentence(span, title=doc is title_doc) for span in spans]
        starts = [span.start for span in spans]
        for match_id, start, end in matcher(doc):
            sentence = sentences[bisect_right(starts, start) - 1]
            label = doc.vocab.strings[match_id]
            if label == "anaphora" and end < len(doc) and doc[end].text == "-":
                continue  # "the two-day meeting" is not "the two"
            if end <= sentence.span.end:
                sentence.terms.setdefault(label, []).append((start, end))
        inside = {i for c in doc.spans["concepts"] for i in range(c.start, c.end) if c.end - c.start > 1}
        country_starts = {c.start for c in doc.spans["countries"]}
        previous: tuple[int, bool] = (-10, False)  # end and `located` of the country before
        for country in doc.spans["countries"]:
            # part of a name: "Islamic State of Iraq and Syria", "Tehrik-i-Taliban Pakistan"
            if country.start in inside:
                continue
            sentence = sentences[bisect_right(starts, country.start) - 1]
            # "in Iraq and Syria": a country listed right after a located one is located too
            topic = _topic(country, sentence, rules)
            if topic:
                sentence.topics.add(country.label_)
            located = (
                _located(country, country_starts, rules)
                or _qualifier(country, rules)
                or topic
                or (previous[1] and country.start - previous[0] == 1 and doc[previous[0]].lower_ in ("and", ",", "or"))
            )
            previous = (country.end, located)
            if country.end <= sentence.span.end:
                sentence.countries.append(NamedCountry(country.label_, country.kb_id_, located, country.start))
        out.extend(sentences)
    return out


def _parties(sentence: Sentence, named: list[str], history: list[str]) -> tuple[list[str], bool]:
    """The sentence's distinct countries; with an anaphora ("the two sides", "his counterpart") or an opening
    "He"/"She" the missing ones come from the countries named before, most recent first."""
    codes = list(dict.fromkeys(named))
    opening = any(start == sentence.span.start for start, _ in sentence.terms.get("subject_pronoun", []))
    if len(codes) >= 2 or ("anaphora" not in sentence.terms and not (opening and len(codes) == 1)):
        return codes, False  # "He" is one person: with one other country named, he is the second party
    via = False
    for code in reversed(history):
        if code not in codes:
            codes.append(code)
            via = True
        if len(codes) == 2:
            break
    return codes, via


Trigger = tuple[str, tuple[int, int], int, str]  # (type, trigger token range, distance, rule)


def _trigger(terms: Terms, rules: EventRules) -> Trigger | None:
    """The first event type whose words are in the sentence."""
    return next(_triggers(terms, rules), None)


def _sentence_triggers(terms: Terms, rules: EventRules) -> list[Trigger]:
    """The frames a sentence is read for: its first type's; when that is an agreement, its dialogue too (an
    agreement to come and the talks that agreed on it, "will sign an MoU, he said after talks with": the
    stronger stands)."""
    triggers = list(_triggers(terms, rules))
    if triggers and triggers[0][0] == "agreement":
        return [t for t in triggers if t[0] in ("agreement", "dialogue")]
    return triggers[:1]


def _triggers(terms: Terms, rules: EventRules) -> Iterator[Trigger]:
    """Each event type whose words are in the sentence, in type order."""
    for etype in TYPE_ORDER:
        if etype not in rules.types:
            continue
        verbs = terms.get(f"{etype}.verbs", [])
        if etype == "agreement":
            instruments = terms.get("agreement.instruments", [])
            if verbs and instruments:
                verb, inst = min(((v, i) for v in verbs for i in instruments), key=lambda p: abs(p[0][0] - p[1][0]))
                yield etype, verb, abs(verb[0] - inst[0]), "agreement.verbs+instruments"
        elif etype == "dialogue":
            nouns = terms.get("dialogue.nouns", [])
            if nouns and verbs:
                noun, _ = min(((n, v) for n in nouns for v in verbs), key=lambda p: abs(p[0][0] - p[1][0]))
                yield etype, noun, 0, "dialogue.nouns+verbs"
            elif phrases := _with_governments(terms.get("dialogue.phrases", []), terms.get("audience", [])):
                yield etype, min(phrases), 0, "dialogue.phrases"
        else:
            words = terms.get(f"{etype}.nouns", []) + terms.get(f"{etype}.phrases", [])
            if words:
                yield etype, min(words), 0, f"{etype}.words"


def _with_governments(phrases: list[tuple[int, int]], audiences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The dialogue phrases that are not a meeting with an audience ("a meeting with journalists",
    "speaking with reporters"): an audience word within two tokens after the phrase."""
    return [(s, e) for s, e in phrases if not any(e <= a < e + 2 for a, _ in audiences)]


def _frame(
    candidate: Candidate,
    rules: EventRules,
    taxonomy: Taxonomy,
    relevance: float,
    year: int | None,
    reader: StatusReader | None,
) -> Event:
    sentence, etype = candidate.sentence, candidate.type
    span, doc = sentence.span, sentence.span.doc
    t_start, t_end = candidate.trigger
    if etype == "dialogue" and doc[t_start].lower_ in rules.held_prepositions:
        status, status_rule = _window_status(sentence, candidate, rules, year)  # "after talks": they took place,
        if status not in ("failed", "earlier"):  # unless they failed or are old news
            status, status_rule = "held", "held_preposition"
    elif reader is not None:
        status, status_rule = reader.status(span, t_start - span.start, etype, year, title=sentence.title)
        if sentence.title and status_rule == "parse:done":  # headline grammar is what the model parses worst
            window_status, window_rule = _window_status(sentence, candidate, rules, year)
            if window_rule != "default":
                status, status_rule = window_status, f"title:{window_rule}"
            elif t_start > span.start and doc[t_start - 1].lower_ == "to":  # "Bush, Musharraf to Discuss ..."
                status, status_rule = "planned", "title:to_infinitive"
    else:
        status, status_rule = _window_status(sentence, candidate, rules, year)
    if (
        etype == "intent"
        and reader is not None
        and status not in ("failed", "earlier")
        and reader.joint_outcome(
            span, t_start - span.start, _offsets(sentence, "anaphora"), _country_offsets(span), title=sentence.title
        )
    ):
        etype, status, status_rule = "dialogue", "held", "parse:joint_outcome"  # a pledge made together
    if etype == "intent":
        status = "proposed" if status in NEW_STATUSES else status
    confidence = rules.types[etype].confidence
    if candidate.via_anaphora:
        confidence -= 0.15
    if sentence.countries and all(c.kind == "capital" for c in sentence.countries if c.code in candidate.parties):
        confidence -= 0.1
    if candidate.distance > 12:
        confidence -= 0.15
    concept = next(
        filter(
            None, (_ct_concept(s.span, taxonomy, rules.ct.concept_weight) for s in (sentence, *candidate.following))
        ),
        None,
    )
    if concept is None and relevance >= rules.ct.article_relevance and not candidate.beside_others:
        concept = f"article relevance {relevance:.2f}"
    return Event(
        type=etype,
        parties=candidate.parties,
        sentence=span.text.strip()[:MAX_SENTENCE],
        trigger=doc[t_start:t_end].text,
        instrument=_instrument(sentence.terms, rules, etype),
        status=status,
        ct_relevant=concept is not None,
        confidence=round(max(confidence, 0.1), 2),
        evidence=Evidence(trigger=candidate.rule, status=status_rule, concept=concept),
    )


def _country_offsets(span: Span) -> dict[int, str]:
    """Offset from the sentence's start -> country code, for each token of a country named in it."""
    return {
        i - span.start: country.label_
        for country in span.doc.spans["countries"]
        if span.start <= country.start and country.end <= span.end
        for i in range(country.start, country.end)
    }


def _offsets(sentence: Sentence, label: str) -> list[int]:
    """The offsets, from the sentence's start, of the tokens of its words of one kind."""
    return [i - sentence.span.start for start, end in sentence.terms.get(label, []) for i in range(start, end)]


def _instrument(terms: Terms, rules: EventRules, etype: str) -> str:
    """The type's instrument named in the sentence (the first listed whose words occur), else its default."""
    for instrument in rules.instruments.get(etype, {}):
        if terms.get(f"instrument.{etype}.{instrument}"):
            return instrument
    return rules.default_instruments[etype]


def _window_status(sentence: Sentence, candidate: Candidate, rules: EventRules, year: int | None) -> tuple[str, str]:
    """Status without a parse: negation near the trigger, an old date, then planned or proposed words before it."""
    terms, (start, end) = sentence.terms, candidate.trigger
    verbs = {v_start for v_start, _ in terms.get(f"{candidate.type}.verbs", [])}
    for n_start, _ in terms.get("negation", []):
        if start - rules.negation_window <= n_start < start or end <= n_start < end + 3:
            return "failed", "window:negation"
        if n_start in verbs:  # the verb that makes the frame says it failed: "talks ... stalled"
            return "failed", "window:failure_verb"
    if dated_before(sentence.span, year) or "old" in terms:
        return "earlier", "window:old"
    for status in ("planned", "proposed"):
        if any(start - rules.window <= s < start for s, _ in terms.get(status, [])):
            return status, f"window:{status}"
    return done_status(candidate.type), "default"


def _located(span: Span, country_starts: set[int], rules: EventRules) -> bool:
    """True when the country is the object of a place preposition, possibly after a determiner ("the",
    "both", "northern"), names a place with the noun after it ("the Pakistan-Afghanistan border"), where an
    envoy serves ("ambassador to India") or whose people are meant ("the people of Libya")."""
    doc = span.doc
    i = span.start - 1
    if i >= 0 and doc[i].lower_ in rules.place_determiners:
        i -= 1
    if i >= 0 and doc[i].lower_ in rules.place_prepositions:
        return True
    if i >= 1 and doc[i].lower_ in ("to", "in") and doc[i - 1].lower_ in rules.posted_nouns:
        return True  # "Pakistan's ambassador to India": where the envoy serves
    if i >= 1 and doc[i].lower_ == "of" and doc[i - 1].lower_ in rules.people_nouns:
        return True  # "the people of Libya": its people, not its government
    if i >= 1 and doc[i].text == ",":  # "in Munich, Germany": the country of a place
        k = i - 1
        while k > 0 and doc[k].is_title and k > i - 4:
            k -= 1
        if k < i - 1 and doc[k].lower_ in rules.place_prepositions:
            return True
    j = span.end
    while j < len(doc) and (doc[j].text == "-" or j in country_starts):
        j += 1
    return j < len(doc) and doc[j].lower_ in rules.place_nouns


def _topic(span: Span, sentence: Sentence, rules: EventRules) -> bool:
    """True when the country is what talks were about: it stands after a verb of discussing in its sentence
    with no word that brings in a participant between ("the two discussed Afghanistan", "we talked about
    ... the Congo"; not "discussed terrorism with Pakistan's foreign minister")."""
    doc = span.doc
    start = span.start - 1 if span.start > 0 and doc[span.start - 1].lower_ == "the" else span.start
    if start > 0 and doc[start - 1].lower_ in ("and", "or"):
        start -= 1  # "talked about Darfur and the Sudan": the next item of the same list
    return any(
        end <= span.start and not any(t.lower_ in rules.participant_words for t in doc[end:start])
        for _, end in sentence.terms.get("topic_verb", [])
    )


def _qualifier(span: Span, rules: EventRules) -> bool:
    """True when the country only qualifies what follows: "American-led", "US-led" (country, hyphen, one of
    the modifier suffixes)."""
    doc = span.doc
    if len(span) > 2 and span[-2].text == "-" and span[-1].lower_ in rules.modifier_suffixes:
        return True
    j = span.end
    return j + 1 < len(doc) and doc[j].text == "-" and doc[j + 1].lower_ in rules.modifier_suffixes


def dated_before(tokens: Iterable[Token], year: int | None) -> bool:
    """An explicit year before the article's year among the tokens."""
    if year is None:
        return False
    return any(t.is_digit and len(t.text) == 4 and 1900 <= int(t.text) < year for t in tokens)


def _core_concept(docs: tuple[Doc, ...], taxonomy: Taxonomy, rules: EventRules) -> bool:
    """Whether the article names a counter-terrorism concept at least `ct.concept_weight` strong anywhere: an
    article relevant only through weak concepts (military operations, security services) is not about CT."""
    return any(taxonomy.weight_of(s.label_) >= rules.ct.concept_weight for d in docs for s in d.spans["concepts"])


def _ct_concept(span: Span, taxonomy: Taxonomy, weight: float) -> str | None:
    """The first counter-terrorism concept at least `weight` strong inside the sentence, as "concept_id 'text'"."""
    for s in span.doc.spans["concepts"]:
        if s.start >= span.start and s.end <= span.end and taxonomy.weight_of(s.label_) >= weight:
            return f"{s.label_} '{s.text}'"
    return None
