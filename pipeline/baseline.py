"""A keyword co-occurrence baseline for the bilateral-event judgement, to show what the NLP adds.

A sentence (the title is one) that names at least two countries and an instrument word (agreement) or a
dialogue word (dialogue) of config/events.yaml is an event between its first two countries; it is
CT-relevant when the article carries any counter-terrorism concept of the taxonomy. No parse, no status,
no anaphora, no vetoes: what a keyword search on a news archive would give.
"""

from __future__ import annotations

from pipeline.events import MAX_SENTENCE, split_sentences
from pipeline.models import Event, Evidence, done_status
from pipeline.tagging import Tagger

BASELINE_TYPES = {"agreement": "agreement.instruments", "dialogue": "dialogue.nouns"}


def baseline_events(tagger: Tagger, title: str, text: str) -> list[Event]:
    """The baseline's events for one title and text (the tagger's fast matchers supply countries and words)."""
    with tagger.nlp.memory_zone():
        title_doc, text_doc = tagger.nlp.pipe([title, text])
        ct = any(
            tagger.taxonomy.weight_of(s.label_) > 0 for doc in (title_doc, text_doc) for s in doc.spans["concepts"]
        )
        events: dict[tuple[str, str], Event] = {}
        for sentence in split_sentences(title_doc, text_doc, tagger.event_terms, tagger.rules):
            span = sentence.span  # every country the gazetteer finds, places and parts of names too
            codes = list(
                dict.fromkeys(
                    c.label_ for c in span.doc.spans["countries"] if c.start >= span.start and c.end <= span.end
                )
            )
            etype = next((t for t, label in BASELINE_TYPES.items() if label in sentence.terms), None)
            if len(codes) < 2 or etype is None:
                continue
            event = Event(
                type=etype,
                parties=codes[:2],
                sentence=sentence.span.text[:MAX_SENTENCE],
                trigger=BASELINE_TYPES[etype],
                status=done_status(etype),
                ct_relevant=ct,
                confidence=0.5,
                evidence=Evidence(trigger=f"baseline:{BASELINE_TYPES[etype]}", status="none"),
            )
            events.setdefault((etype, event.dyad), event)
        return list(events.values())
