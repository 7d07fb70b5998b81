"""The Store protocol every store implements, and the per-document result of an upsert."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pipeline.models import Article

Action = Literal["created", "updated", "unchanged", "error"]


class StoreError(Exception):
    """The store cannot be opened or used at all (not one rejected document)."""


@dataclass(frozen=True)
class UpsertResult:
    """What happened to one document: created, updated (content changed), unchanged, or error."""

    id: str
    action: Action
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.action != "error"


@dataclass(frozen=True)
class Hit:
    """A search result: the article, its relevance score for the query, and highlighted fragments."""

    article: Article
    score: float
    highlights: list[str] = field(default_factory=list)


class Store(Protocol):
    """Articles plus a small key/value state area (feed validators, feed health, alert bookkeeping)."""

    # How long after its `indexed_at` stamp a document may still become visible to queries (a concurrent
    # writer's bulk request in flight, retried, or not yet refreshed). Readers that move a watermark over
    # `indexed_at` (the alerts job) read only up to now minus this, so nothing stamped before the watermark
    # can appear after it.
    settle: timedelta

    def upsert(self, articles: Iterable[Article], known: Mapping[str, str] | None = None) -> Iterator[UpsertResult]:
        """Idempotent bulk upsert by id; yields one result per document, in order.

        An article whose content hash is already stored is `unchanged` and keeps its
        `indexed_at`; a new or changed one gets `indexed_at` set to now. `known` is what
        `seen()` returned for these ids, when the caller already asked (saves a lookup).
        """
        ...

    def seen(self, ids: Iterable[str]) -> dict[str, str]:
        """For the ids already stored, their content hash."""
        ...

    def copies_of(self, bands: list[str], limit: int = 1000) -> list[Article]:
        """Stored articles that share at least one of these MinHash LSH band keys (pipeline/duplicates.py):
        the candidates for earlier copies of new articles."""
        ...

    def get(self, article_id: str) -> Article | None: ...

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        time_field: Literal["published_at", "indexed_at"] = "published_at",
        concept: str | None = None,
        country: str | None = None,
        event_type: str | None = None,
        feed_id: str | None = None,
        entity: str | None = None,
        language: str | None = None,
        limit: int | None = 100,
    ) -> list[Article]:
        """Articles matching every filter given, newest first by `time_field`. `entity`: a person,
        organisation or place the entity recognizer found, in any case; `language`: the feed's language."""
        ...

    def search(self, text: str, *, limit: int = 20) -> list[Hit]:
        """Full-text search over title and text, best first."""
        ...

    def count(self, *, feed_id: str | None = None) -> int: ...

    def counts_by_feed(self) -> dict[str, int]: ...

    def state_get(self, namespace: str, key: str) -> dict[str, Any] | None: ...

    def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    def state_items(self, namespace: str) -> dict[str, dict[str, Any]]: ...

    def state_delete(self, namespace: str, key: str) -> None: ...

    def close(self) -> None: ...
