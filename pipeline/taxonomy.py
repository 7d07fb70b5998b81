"""The counter-terrorism taxonomy (config/taxonomy.yaml): categories -> concepts, validated on load."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.config import config_dir, load_model
from pipeline.fields import unique

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


class Alias(BaseModel):
    """A phrase that names a concept; `exact` matches the spelling only, `insensitive` any case."""

    model_config = ConfigDict(extra="forbid")

    text: str
    case: Literal["insensitive", "exact"] = "insensitive"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _short_is_exact(self) -> Alias:
        if not self.text.strip():
            raise ValueError("alias is empty")
        if len(self.text) <= 3 and self.case != "exact":
            raise ValueError(f"alias {self.text!r} is 3 characters or fewer: mark it `case: exact`")
        return self


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    label: str
    weight: float = Field(ge=0, le=1)


class Concept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    category: str
    label: str
    parent: str | None = None
    weight: float | None = Field(None, ge=0, le=1)
    aliases: list[Alias]
    aliases_ms: list[Alias] = Field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = Field(default_factory=list)
    sources: list[str]

    @field_validator("id")
    @classmethod
    def _snake(cls, v: str) -> str:
        if not SNAKE.match(v):
            raise ValueError("must be snake_case")
        return v

    @field_validator("aliases")
    @classmethod
    def _not_empty(cls, v: list[Alias]) -> list[Alias]:
        if not v:
            raise ValueError("a concept needs at least one alias")
        return v


class Relevance(BaseModel):
    """How concept weights make an article's relevance (0..1): each distinct concept adds its weight, times
    `title_boost` when it is in the title or `lead_boost` when it first appears in the first `lead_chars` of
    the text; each further mention adds `repeat_share` of its weight (at most `max_repeats`);
    relevance = 1 - exp(-sum / `scale`)."""

    model_config = ConfigDict(extra="forbid")

    title_boost: float = Field(2.0, ge=1)
    lead_boost: float = Field(1.5, ge=1)
    lead_chars: int = Field(400, ge=0)
    repeat_share: float = Field(0.1, ge=0)
    max_repeats: int = Field(3, ge=0)
    scale: float = Field(2.0, gt=0)


class Taxonomy(BaseModel):
    """The whole taxonomy; `ancestors`, `category_of` and `weight_of` answer what the tagger needs."""

    model_config = ConfigDict(extra="forbid")

    version: str
    relevance: Relevance = Field(default_factory=Relevance)
    categories: list[Category]
    concepts: list[Concept]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        cats = [c.id for c in self.categories]
        unique(cats, "category id")
        ids = [c.id for c in self.concepts]
        unique(ids, "concept id")
        for concept in self.concepts:
            if concept.category not in cats:
                raise ValueError(f"concept {concept.id!r}: unknown category {concept.category!r}")
            if concept.parent and concept.parent not in ids:
                raise ValueError(f"concept {concept.id!r}: unknown parent {concept.parent!r}")
        by_id = {c.id: c for c in self.concepts}
        for concept in self.concepts:
            seen, node = {concept.id}, concept
            while node.parent:
                if node.parent in seen:
                    raise ValueError(f"concept {concept.id!r}: parent cycle through {node.parent!r}")
                seen.add(node.parent)
                node = by_id[node.parent]
        return self

    @cached_property
    def by_id(self) -> dict[str, Concept]:
        return {c.id: c for c in self.concepts}

    @cached_property
    def category_weight(self) -> dict[str, float]:
        return {c.id: c.weight for c in self.categories}

    def ancestors(self, concept_id: str) -> list[str]:
        """Parents of a concept, nearest first."""
        out, node = [], self.by_id[concept_id]
        while node.parent:
            out.append(node.parent)
            node = self.by_id[node.parent]
        return out

    def category_of(self, concept_id: str) -> str:
        return self.by_id[concept_id].category

    def weight_of(self, concept_id: str) -> float:
        concept = self.by_id[concept_id]
        return concept.weight if concept.weight is not None else self.category_weight[concept.category]


def taxonomy_path() -> Path:
    return config_dir() / "taxonomy.yaml"


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate the taxonomy; ConfigError names the file and the entry at fault."""
    path = path or taxonomy_path()
    return load_model(Taxonomy, path)
