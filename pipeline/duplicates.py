"""Near-duplicate articles: syndicated and lightly edited copies of one story under different URLs.

An article's text is cut into word shingles and summarised by a MinHash signature (datasketch). The signature's
LSH bands (datasketch picks their number and width for the threshold) are kept with the article as
`minhash_bands`, so that a later article finds earlier copies in the store by a band they share; a candidate is
a copy when the estimated Jaccard similarity of the two texts reaches the threshold and the two were published
within the window. A copy gets `duplicate_of` (the most similar earlier copy) and that copy's `story_id`; every
other article is a story of its own (`story_id` is its id). Exact URL duplicates never get this far (normalise).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from datasketch import MinHash, MinHashLSH
from pydantic import BaseModel, ConfigDict, RootModel, field_validator, model_validator

from pipeline.config import PROJECT_DIR, DuplicateSettings, load_model
from pipeline.corpus import Excerpt, PublishedDate, WebUrl, reusable
from pipeline.fields import unique
from pipeline.models import Article
from pipeline.normalise import canonical_url, content_hash, sha1
from pipeline.stores.base import Store

PAIRS = PROJECT_DIR / "tests" / "data" / "duplicates" / "pairs.yaml"

WORD = re.compile(r"\w+")
SCHEME = "affine32"  # datasketch's permutation scheme: stored signatures and band keys depend on it
MAX_CANDIDATES = 50  # earlier articles compared per new one, those sharing the most LSH bands first
SLICE, MAX_STORED = 200, 1000  # new articles per lookup of stored candidates, and the documents it may read


def shingles(text: str, size: int) -> set[str]:
    """The `size`-word shingles of a text, lower-cased, punctuation and spacing ignored."""
    words = WORD.findall(text.lower())
    return {" ".join(words[i : i + size]) for i in range(max(len(words) - size + 1, 0))}


def article_text(article: Article) -> str:
    """What is compared: the body (a copy often has another headline), or title and summary when the feed
    carries nothing more."""
    return article.text if len(article.text) >= len(article.summary) + 80 else f"{article.title}\n{article.summary}"


@dataclass
class Copies:
    """Signatures and LSH bands under one DuplicateSettings."""

    settings: DuplicateSettings

    @cached_property
    def layout(self) -> tuple[int, int]:
        """(bands, rows per band) that datasketch's LSH chooses for the threshold."""
        lsh = MinHashLSH(threshold=self.settings.threshold, num_perm=self.settings.num_perm)
        return lsh.b, lsh.r

    @cached_property
    def permutations(self) -> object:
        """The hash permutations every signature shares (datasketch derives them from the seed; deriving them once
        spares each signature the work)."""
        return MinHash(num_perm=self.settings.num_perm, scheme=SCHEME).permutations

    def signature(self, text: str) -> MinHash | None:
        """The text's MinHash, or None when it has fewer shingles than `min_shingles` (too short to tell)."""
        grams = shingles(text, self.settings.shingle_words)
        if len(grams) < self.settings.min_shingles:
            return None
        signature = MinHash(num_perm=self.settings.num_perm, permutations=self.permutations, scheme=SCHEME)
        signature.update_batch([g.encode("utf-8") for g in grams])
        return signature

    @staticmethod
    def encode(signature: MinHash) -> str:
        """The signature as it is stored on the article (`minhash`): base64 of its 32-bit values."""
        return base64.b64encode(signature.hashvalues.astype("<u4").tobytes()).decode("ascii")

    def decode(self, stored: str | None) -> MinHash | None:
        """The stored signature, or None when there is none or it was made with another `num_perm`."""
        if not stored:
            return None
        values = np.frombuffer(base64.b64decode(stored), dtype="<u4")
        if len(values) != self.settings.num_perm:
            return None
        return MinHash(
            num_perm=self.settings.num_perm, hashvalues=values, permutations=self.permutations, scheme=SCHEME
        )

    def stored_signature(self, article: Article) -> MinHash | None:
        """A stored article's signature: the one kept with it, else (stored before signatures were kept, or
        under another `num_perm`) made again from its text."""
        return self.decode(article.minhash) or self.signature(article_text(article))

    def bands(self, signature: MinHash) -> list[str]:
        """The LSH band keys of a signature: two texts likely to be copies share at least one."""
        b, r = self.layout
        values = signature.hashvalues
        return [f"{i}:{hashlib.sha1(values[i * r : (i + 1) * r].tobytes()).hexdigest()[:16]}" for i in range(b)]

    def similarity(self, a: str, b: str) -> float:
        """Estimated Jaccard similarity of two texts' shingles (0 when either is too short to tell)."""
        sa, sb = self.signature(a), self.signature(b)
        return sa.jaccard(sb) if sa is not None and sb is not None else 0.0


def link_copies(articles: Iterable[Article], store: Store, settings: DuplicateSettings) -> int:
    """Set story_id, duplicate_of, minhash_bands and minhash on each article, oldest first: a copy of an article
    stored earlier or of one earlier in the batch is linked to the most similar of them. Returns how many are
    copies. Stored candidates are read `SLICE` articles at a time (at most `MAX_STORED` documents each), so memory
    stays bounded whatever the store's size; of the earlier articles sharing bands with one, the `MAX_CANDIDATES`
    sharing the most are compared."""
    copies = Copies(settings)
    batch = sorted(articles, key=lambda a: (a.published_at, a.id))
    signatures = {a.id: copies.signature(article_text(a)) for a in batch}
    for article in batch:
        signature = signatures[article.id]
        article.minhash_bands = copies.bands(signature) if signature is not None else []
        article.minhash = copies.encode(signature) if signature is not None else None
    earlier = _Bands()  # the batch's articles already linked
    linked = 0
    for start in range(0, len(batch), SLICE):
        part = batch[start : start + SLICE]
        bands = sorted({b for a in part for b in a.minhash_bands})
        stored = _Bands()
        for other in store.copies_of(bands, limit=MAX_STORED) if bands else []:
            if other.id not in signatures:
                stored.add(other, copies.stored_signature(other))
        for article in part:
            best = _best_earlier(article, signatures[article.id], (earlier, stored), settings)
            article.story_id, article.duplicate_of = article.story_id or article.id, None
            if best is not None:
                article.duplicate_of, article.story_id = best.id, best.story_id or best.id
                linked += 1
            if signatures[article.id] is not None:
                earlier.add(article, signatures[article.id])
    return linked


class _Bands:
    """Articles with their signatures, found by the LSH bands they share with another."""

    def __init__(self) -> None:
        self.articles: dict[str, tuple[Article, MinHash]] = {}
        self.by_band: dict[str, list[str]] = {}

    def add(self, article: Article, signature: MinHash | None) -> None:
        if signature is None:
            return
        self.articles[article.id] = (article, signature)
        for band in article.minhash_bands:
            self.by_band.setdefault(band, []).append(article.id)

    def sharing(self, article: Article) -> Counter[str]:
        """How many bands each article here shares with `article`."""
        return Counter(i for band in article.minhash_bands for i in self.by_band.get(band, ()) if i != article.id)


def _best_earlier(
    article: Article, signature: MinHash | None, pools: tuple[_Bands, ...], settings: DuplicateSettings
) -> Article | None:
    """The most similar earlier article of the pools, at least `threshold` similar and within the window; None
    when there is none. The `MAX_CANDIDATES` sharing the most bands are compared, all at once."""
    if signature is None:
        return None
    shared: Counter[str] = Counter()
    for pool in pools:
        shared.update(pool.sharing(article))
    found = {i: pool.articles[i] for pool in pools for i in pool.articles.keys() & shared.keys()}
    window = timedelta(days=settings.window_days)
    candidates = [
        found[i]
        for i, _ in shared.most_common()
        if abs(found[i][0].published_at - article.published_at) <= window
        and (found[i][0].published_at, i) < (article.published_at, article.id)  # the later one is the copy
    ][:MAX_CANDIDATES]
    if not candidates:
        return None
    values = np.vstack([other_signature.hashvalues for _, other_signature in candidates])
    similarity = (values == signature.hashvalues).mean(axis=1)  # MinHash's estimate of Jaccard similarity
    best = int(similarity.argmax())
    return candidates[best][0] if similarity[best] >= settings.threshold else None


class PairSide(BaseModel):
    """One page of a labelled pair: where it was published, under which licence, its headline and text."""

    model_config = ConfigDict(extra="forbid")

    url: WebUrl
    source: str
    licence: str
    published: PublishedDate
    title: str
    text: Excerpt

    @field_validator("licence")
    @classmethod
    def _reusable(cls, v: str) -> str:
        return reusable(v)

    def article(self) -> Article:
        published = datetime.fromisoformat((self.published + "-01-01")[:10]).replace(tzinfo=UTC)
        return Article(
            id=sha1(canonical_url(self.url)),
            url=self.url,
            feed_id="pairs",
            source=self.source,
            title=self.title,
            text=self.text,
            published_at=published,
            fetched_at=published,
            content_hash=content_hash(self.title, self.text),
        )


class CopyPair(BaseModel):
    """Two pages labelled `duplicate` (one article at two URLs) or `distinct` (one event, written twice)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    label: Literal["duplicate", "distinct"]
    a: PairSide
    b: PairSide
    note: str = ""


class PairsFile(RootModel[list[CopyPair]]):
    @model_validator(mode="after")
    def _unique(self) -> PairsFile:
        unique((p.id for p in self.root), "pair id")
        return self


def load_pairs(path: Path = PAIRS) -> list[CopyPair]:
    return load_model(PairsFile, path).root


def judged_copies(pair: CopyPair, settings: DuplicateSettings) -> tuple[bool, float]:
    """Whether the detector links the pair's two pages, run as the pass runs it (both in one batch over an empty
    in-memory store), and their estimated similarity."""
    from pipeline.stores.sqlite import SQLiteStore

    a, b = pair.a.article(), pair.b.article()
    with closing(SQLiteStore(":memory:")) as empty:
        link_copies([a, b], empty, settings)
    linked = b.duplicate_of == a.id or a.duplicate_of == b.id
    return linked, Copies(settings).similarity(article_text(a), article_text(b))
