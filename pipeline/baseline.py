"""A keyword co-occurrence baseline for the bilateral-event judgement, to show what the NLP adds.

A sentence (the title is one) that names at least two countries and an instrument word (agreement) or a
dialogue word (dialogue) of config/events.yaml is an event between its first two countries; it is
CT-relevant when the article carries any counter-terrorism concept of the taxonomy. No parse, no status,
no anaphora, no vetoes: what a keyword search on a news archive would give.
"""

from __future__ import annotations

from pipeline.models import Event, Evidence
from pipeline.tagging import Tagger

BASELINE_TYPES = {"agreement": "agreement.instruments", "dialogue": "dialogue.nouns"}


def baseline_events(tagger: Tagger, title: str, text: str) -> list[Event]:
    """The baseline's events for one title and text (the tagger's fast matchers supply countries and words)."""
    with tagger.nlp.memory_zone():
        docs = list(tagger.nlp.pipe([title, text]))
        ct = any(tagger.taxonomy.weight_of(s.label_) > 0 for doc in docs for s in doc.spans["concepts"])
        matches = [(doc, tagger.event_terms(doc)) for doc in docs]
        events: dict[tuple[str, str], Event] = {}
        for doc, found in matches:
            sentences = [doc[:]] if doc is docs[0] else list(doc.sents)
            for sentence in sentences:
                codes = list(dict.fromkeys(s.label_ for s in doc.spans["countries"]
                                           if s.start >= sentence.start and s.end <= sentence.end))
                if len(codes) < 2:
                    continue
                labels = {doc.vocab.strings[m] for m, s, e in found if s >= sentence.start and e <= sentence.end}
                for etype, label in BASELINE_TYPES.items():
                    if label in labels:
                        parties = sorted(codes[:2])
                        events.setdefault((etype, "-".join(parties)), Event(
                            type=etype, parties=parties, dyad="-".join(parties), sentence=sentence.text[:600],
                            trigger=label, status="signed" if etype == "agreement" else "held", ct_relevant=ct,
                            confidence=0.5, evidence=Evidence(trigger=f"baseline:{label}", status="none")))
                        break
        return list(events.values())
