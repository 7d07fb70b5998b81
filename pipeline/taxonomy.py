"""The counter-terrorism taxonomy (config/taxonomy.yaml): categories -> concepts, validated on load."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.config import ConfigError, describe_validation_error, config_dir, load_yaml

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


class Taxonomy(BaseModel):
    """The whole taxonomy; `ancestors`, `category_of` and `weight_of` answer what the tagger needs."""

    model_config = ConfigDict(extra="forbid")

    version: str
    categories: list[Category]
    concepts: list[Concept]

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        cats = [c.id for c in self.categories]
        if len(set(cats)) != len(cats):
            raise ValueError(f"category ids repeat: {sorted({c for c in cats if cats.count(c) > 1})}")
        ids = [c.id for c in self.concepts]
        for concept in self.concepts:
            if ids.count(concept.id) > 1:
                raise ValueError(f"concept id {concept.id!r} is used twice")
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
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with version, categories and concepts")
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, str(path), data)) from None
