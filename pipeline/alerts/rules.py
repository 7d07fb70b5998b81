"""Alert rules (config/alerts.yaml): which events an analyst wants to hear about, and how."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.config import config_dir, load_model
from pipeline.fields import CountryCode, Slug, unique
from pipeline.models import Article, Event, EventTypeName, ListedStatus


class Match(BaseModel):
    """Conditions an event (and its article) must meet; all given ones must hold."""

    model_config = ConfigDict(extra="forbid")

    event_types: list[EventTypeName] = Field(default_factory=list)
    status: list[ListedStatus] = Field(default_factory=list)
    ct_relevant: bool | None = None
    countries_any: list[CountryCode] = Field(default_factory=list)
    countries_all: list[CountryCode] = Field(default_factory=list)
    concepts_any: list[str] = Field(default_factory=list)
    min_relevance: float = Field(0.0, ge=0, le=1)
    min_confidence: float = Field(0.0, ge=0, le=1)

    def accepts(self, event: Event, article: Article) -> bool:
        return (
            (not self.event_types or event.type in self.event_types)
            and (not self.status or event.status in self.status)
            and (self.ct_relevant is None or event.ct_relevant == self.ct_relevant)
            and (not self.countries_any or any(p in self.countries_any for p in event.parties))
            and all(c in event.parties for c in self.countries_all)
            and (not self.concepts_any or any(c in article.concepts for c in self.concepts_any))
            and article.relevance >= self.min_relevance
            and event.confidence >= self.min_confidence
        )


class Rule(BaseModel):
    """One rule: what to match, who hears of it, at once or in the daily digest."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    description: str
    enabled: bool = True
    match: Match
    recipients: list[str]
    mode: Literal["immediate", "digest"] = "immediate"
    story_window_days: float = Field(3.0, gt=0)
    # a story whose first report was published longer than this before it was indexed is old news: never an
    # immediate alert, only a digest item marked "reported late" (backfill, a feed added later, a slow feed)
    max_age_days: float = Field(3.0, gt=0)

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one recipient")
        for address in v:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return v


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self) -> RulesFile:
        unique((r.id for r in self.rules), "rule id")
        return self


def load_rules(path: Path | None = None) -> list[Rule]:
    """The rules of config/alerts.yaml (or `path`), validated."""
    return load_model(RulesFile, path or config_dir() / "alerts.yaml").rules
