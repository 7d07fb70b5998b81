"""The Article: the one record type that travels through the stages and grows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, model_validator


class Mention(BaseModel):
    """A taxonomy concept found in an article: which concept, what text, where (character offsets in `field`)."""

    concept: str
    text: str
    start: int
    end: int
    field: str = "text"


# Bilateral event types (DESIGN: after CAMEO's classes), in the order a sentence's words are tried.
EventTypeName = Literal["agreement", "dialogue", "material", "intent"]
EVENT_TYPES: tuple[str, ...] = get_args(EventTypeName)

# The types whose signed or held frames are new agreements or dialogues: what the default alert rule is for.
ALERT_TYPES: tuple[str, ...] = ("agreement", "dialogue")

# The status of an event frame (docs/labelling.md). Failed and earlier happenings are not events; signed and
# held ones are new; planned and proposed ones are expected.
ListedStatus = Literal["signed", "held", "planned", "proposed"]
STATUSES = (*get_args(ListedStatus), "failed", "earlier")
LISTED_STATUSES: tuple[str, ...] = get_args(ListedStatus)
NEW_STATUSES = ("signed", "held")


def done_status(etype: str) -> str:
    """The status of a frame that took place: an agreement is signed, anything else held."""
    return "signed" if etype == "agreement" else "held"


class Evidence(BaseModel):
    """Why an event was found: the trigger pattern, the status cue and the concept that made it CT-relevant."""

    trigger: str = ""
    status: str = ""
    concept: str | None = None


class Event(BaseModel):
    """A bilateral event frame between exactly two countries (see docs/design.md and docs/labelling.md).
    `parties` are kept sorted and `dyad` ("MY-TH") is derived from them; stores keep it for queries."""

    type: str
    parties: list[str]
    dyad: str = ""
    sentence: str
    trigger: str
    instrument: str | None = None
    status: str = "signed"
    ct_relevant: bool = False
    confidence: float = 0.0
    evidence: Evidence = Field(default_factory=Evidence)

    @model_validator(mode="after")
    def _derive_dyad(self) -> Event:
        self.parties = sorted(self.parties)
        self.dyad = "-".join(self.parties)
        return self


class Article(BaseModel):
    """One news article, as normalised from a feed entry and indexed by the store."""

    id: str
    url: str | None = None
    canonical_url: str | None = None
    guid: str | None = None
    feed_id: str
    source: str
    title: str = ""
    summary: str = ""
    text: str = ""
    text_source: str = "feed"
    speaks_for: str | None = None  # the government an official feed speaks for (FeedConfig.speaks_for)
    language: str | None = None
    author: str | None = None
    published_at: datetime
    fetched_at: datetime
    indexed_at: datetime | None = None
    content_hash: str
    # near-duplicates (pipeline/duplicates.py): the story the article tells (the first copy's id, else its own),
    # the earlier copy it repeats, its MinHash LSH band keys (how later copies find it) and its signature
    # (base64 of the 32-bit values: how a later copy compares with it without hashing its text again)
    story_id: str | None = None
    duplicate_of: str | None = None
    minhash_bands: list[str] = Field(default_factory=list)
    minhash: str | None = None
    flags: list[str] = Field(default_factory=list)
    concepts: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    mentions: list[Mention] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    entities: dict[str, list[str]] = Field(default_factory=dict)
    events: list[Event] = Field(default_factory=list)
    event_types: list[str] = Field(default_factory=list)
    event_dyads: list[str] = Field(default_factory=list)
    relevance: float = 0.0
    taxonomy_version: str | None = None
    pipeline_version: str | None = None

    def to_doc(self) -> dict[str, Any]:
        """The JSON-ready document a store keeps (datetimes as ISO 8601 strings)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Article:
        return cls.model_validate(doc)

    @classmethod
    def from_json(cls, text: str | bytes) -> Article:
        """The article of a stored document's JSON text (parsed and validated in one step)."""
        return cls.model_validate_json(text)
