"""The status of an event frame read off the dependency parse of its sentence.

The cues are spaCy DependencyMatcher patterns kept as data (config/events.yaml `status_patterns`): modality
and tense ("will sign", "set to sign", "is to sign", a headline's "to sign"), failure and negation on the
trigger's governing words ("talks collapsed", "failed to sign", "called off the talks", "no agreement was
signed"), earlier happenings ("signed in 2015", "years ago", "have long held talks") and proposals ("offered
to hold talks", "a draft treaty"). A pattern counts when its node `event` is the trigger or a word on the
way from the trigger up to its verb.
"""

from __future__ import annotations

from collections.abc import Callable

from spacy.matcher import DependencyMatcher
from spacy.tokens import Doc, Span, Token
from spacy.vocab import Vocab

from pipeline.event_rules import EventRules
from pipeline.events import dated_before
from pipeline.models import done_status

ORDER = ("failed", "earlier", "planned", "proposed")
DATE_DEPS = frozenset({"prep", "npadvmod", "pobj", "nummod", "appos", "advmod"})
CLAUSE_DEPS = frozenset({"advcl", "ccomp", "csubj"})  # reduced relatives ("talks held in 2012") do date it


class StatusReader:
    """Compiles the status patterns once; `status()` parses a frame's sentence with `parse` (a function giving
    a Doc whose token i is the sentence's token i) and reads the frame's status off it."""

    def __init__(self, vocab: Vocab, rules: EventRules, parse: Callable[[Span], Doc]) -> None:
        self.parse = parse
        self.joint_verbs = rules.joint_outcome_verbs
        self.joint_perfect = rules.joint_outcome_perfect
        self._parsed: tuple[tuple[int, int, int, str], Doc] | None = None
        self.matcher = DependencyMatcher(vocab)
        self.event_node: dict[str, int] = {}
        self.body_only: set[str] = set()
        self.title_only: set[str] = set()
        for status, patterns in rules.status_patterns.items():
            for item in patterns:
                key = f"{status}|{item.id}"
                self.matcher.add(key, [item.pattern])
                self.event_node[key] = [n.get("RIGHT_ID") for n in item.pattern].index("event")
                if item.body_only:
                    self.body_only.add(key)
                if item.title_only:
                    self.title_only.add(key)

    def status(
        self, sentence: Span, trigger: int, etype: str, year: int | None, title: bool = False
    ) -> tuple[str, str]:
        """(status, the cue that decided it) for the token `trigger` (counted from the sentence's start); in a
        `title`, patterns marked body_only do not count, elsewhere those marked title_only."""
        doc = self._parse(sentence)
        anchors = {t.i for t in _anchors(doc[trigger])}
        fired: dict[str, str] = {}
        for match_id, tokens in self.matcher(doc):
            key = doc.vocab.strings[match_id]
            if key in (self.body_only if title else self.title_only):
                continue
            if tokens[self.event_node[key]] in anchors:
                status, pattern = key.split("|")
                fired.setdefault(status, pattern)
        if "earlier" not in fired and _dated_before(doc, anchors, year):
            fired["earlier"] = "year_before_publication"
        for status in ORDER:
            if status in fired:
                return status, f"parse:{fired[status]}"
        return done_status(etype), "parse:done"

    def _parse(self, sentence: Span) -> Doc:
        """The sentence's parse, kept for the next question about the same sentence."""
        key = (id(sentence.doc), sentence.start, sentence.end, sentence.text)  # same text, same parse
        if self._parsed is None or self._parsed[0] != key:
            self._parsed = (key, self.parse(sentence))
        return self._parsed[1]

    def joint_outcome(
        self,
        sentence: Span,
        trigger: int,
        joint_words: list[int],
        countries: dict[int, str],
        title: bool = False,
    ) -> bool:
        """Whether the pledge at `trigger` was made together: it hangs on a joint-outcome verb (config
        `joint_outcome_verbs`) reported as done (simple past, the perfect of `joint_outcome_perfect`, or a
        headline's present) whose subject is two coordinated parties, holds one of `joint_words` (token
        offsets of "the two ministers" and the like), or names two countries (`countries`: token offset ->
        country code; "U.S., Pakistan Presidents Agree ...")."""
        doc = self._parse(sentence)
        verb = doc[trigger]
        for _ in range(6):
            if verb.pos_ == "VERB" and verb.lemma_.lower() in self.joint_verbs:
                break
            if verb.head is verb:
                return False
            verb = verb.head
        else:
            return False
        auxiliaries = [c for c in verb.children if c.dep_ in ("aux", "auxpass")]
        perfect = verb.tag_ == "VBN" and any(a.lower_ in ("has", "have") for a in auxiliaries)
        # "have agreed" reports an act; "have committed" is how backgrounders speak of a standing partnership
        if not (
            verb.tag_ == "VBD"
            or (perfect and verb.lemma_.lower() in self.joint_perfect)
            or (title and verb.tag_ in ("VBZ", "VBP") and not auxiliaries)
        ):
            return False
        # "U.S., Kenya Leaders Agree": the parser may take "U.S." for a second subject or a modifier before the verb
        subjects = [c for c in verb.children if c.dep_ == "nsubj" or (c.dep_ == "npadvmod" and c.i < verb.i)]
        if not subjects and verb.dep_ == "conj":  # "X and Y met on Monday and agreed to ...": the shared subject
            subjects = [c for c in verb.head.children if c.dep_ == "nsubj"]
        # "the minister, who met X and Y, vowed": the clauses inside a subject are not the subject
        inside = [t for subject in subjects for t in _phrase(subject, CLAUSE_DEPS | {"relcl", "acl"})]
        named = {countries[t.i] for t in inside if t.i in countries}
        return (
            any(t.dep_ == "conj" and t.pos_ in ("PROPN", "NOUN") for t in inside)
            or any(t.i in joint_words for t in inside)
            or len(named) >= 2
        )


def _anchors(trigger: Token) -> list[Token]:
    """The trigger and its governing words up to and including the first verb (a noun trigger such as
    "talks" is read through "held", "collapsed" or "to hold"), and the verb a coordinated verb shares its
    modality with ("will arrive to meet his counterpart and discuss ...": "discuss" is read through "meet")."""
    chain = [trigger]
    token = trigger
    while token.pos_ not in ("VERB", "AUX") and token.head is not token and len(chain) < 5:
        token = token.head
        chain.append(token)
    while token.dep_ == "conj" and token.tag_ == "VB" and token.head.pos_ in ("VERB", "AUX") and len(chain) < 6:
        token = token.head
        chain.append(token)
    return chain


def _dated_before(doc: Doc, anchors: set[int], year: int | None) -> bool:
    """A year before the publication year attached to the event's words ("signed in 2015", "the 2009 treaty"),
    not inside a clause of its own ("the first since Trump took office in 2025" dates his term, not the call)."""
    return any(
        dated_before(_phrase(child), year) for i in anchors for child in doc[i].children if child.dep_ in DATE_DEPS
    )


def _phrase(token: Token, clauses: frozenset[str] = CLAUSE_DEPS) -> list[Token]:
    """The token's subtree without the clauses (`clauses`: their dependency labels) hanging in it."""
    tokens = [token]
    for child in token.children:
        if child.dep_ not in clauses:
            tokens.extend(_phrase(child, clauses))
    return tokens
