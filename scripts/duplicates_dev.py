#!/usr/bin/env python3
"""How config/newswatch.yaml's `duplicates` settings were chosen: a dev set made from the real-news corpus's
train and dev splits (never the test split, never tests/data/duplicates), scored over a grid of shingle sizes
and thresholds. Copies are each item's text after the edits syndication makes (a dateline, "officials said",
a sentence dropped or added, abbreviations); distinct pairs are independently written items on the same
country pair. Usage: python scripts/duplicates_dev.py
"""

from __future__ import annotations

import itertools
import random
import re

from pipeline.config import DuplicateSettings
from pipeline.corpus import load_split
from pipeline.duplicates import Copies

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def edited(text: str, rng: random.Random) -> str:
    """The text after three of the edits a syndicating outlet makes."""
    sentences = SENTENCE.split(text)
    edits = rng.sample(["dateline", "said", "drop", "add", "words"], 3)
    if "drop" in edits and len(sentences) > 3:
        sentences.pop(rng.randrange(len(sentences)))
    if "said" in edits:
        sentences = [s[:-1] + ", officials said." if s.endswith(".") and rng.random() < 0.4 else s for s in sentences]
    if "dateline" in edits:
        sentences[0] = "WASHINGTON \u2014 " + sentences[0]
    if "add" in edits:
        sentences.append("Further details were not immediately available.")
    if "words" in edits:
        sentences = [re.sub(r"\bthe United States\b", "the U.S.", s) for s in sentences]
        sentences = [re.sub(r"\bSecretary\b", "Sec.", s) for s in sentences]
    return " ".join(sentences)


def main() -> None:
    rng = random.Random(7)
    items = [i for split in ("train", "dev") for i in load_split(split)]
    copies = [(i.text, edited(i.text, rng)) for i in items if len(SENTENCE.split(i.text)) >= 3]
    by_dyad: dict[str, list] = {}
    for item in items:
        for event in item.events:
            by_dyad.setdefault(event.dyad, []).append(item)
    distinct = [(a.text, b.text) for v in by_dyad.values() for a, b in itertools.combinations(v, 2) if a.url != b.url]
    distinct = distinct[:400]
    print(f"{len(copies)} copies, {len(distinct)} distinct pairs")
    for size in (3, 4, 5):
        copier = Copies(DuplicateSettings(shingle_words=size))
        same = [copier.similarity(a, b) for a, b in copies]
        other = [copier.similarity(a, b) for a, b in distinct]
        for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
            tp, fp = sum(x >= threshold for x in same), sum(x >= threshold for x in other)
            precision = tp / (tp + fp) if tp + fp else 1.0
            print(
                f"shingle_words={size} threshold={threshold}: P {precision:.3f} R {tp / len(same):.3f} "
                f"(most similar distinct pair {max(other):.3f})"
            )


if __name__ == "__main__":
    main()
