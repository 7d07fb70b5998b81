"""The country gazetteer: ISO 3166-1 names and codes from pycountry plus config/countries.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field

from pipeline.config import config_dir, load_model
from pipeline.fields import CountryCode
from pipeline.taxonomy import Alias

Kind = Literal["name", "demonym", "capital", "prefix", "official"]


class CountryForms(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aliases: list[Alias] = Field(default_factory=list)
    demonyms: list[Alias] = Field(default_factory=list)
    capitals: list[Alias] = Field(default_factory=list)
    prefixes: list[Alias] = Field(default_factory=list)
    officials: list[str] = Field(default_factory=list)  # matched exactly as spelled


class CountriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ignore: list[str] = Field(default_factory=list)
    countries: dict[CountryCode, CountryForms]


@dataclass(frozen=True)
class Form:
    """One way of naming a country in text."""

    text: str
    code: str
    kind: Kind
    exact: bool


def load_gazetteer(path: Path | None = None) -> list[Form]:
    """Every form that names a country: pycountry names, then the extra forms of config/countries.yaml."""
    path = path or config_dir() / "countries.yaml"
    extra = load_model(CountriesFile, path)
    ignore = {name.lower() for name in extra.ignore}
    forms: list[Form] = []
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name and "," not in name and "(" not in name and name.lower() not in ignore:
                forms.append(Form(name, country.alpha_2, "name", False))
    for code, extras in extra.countries.items():
        for kind, aliases in (
            ("name", extras.aliases),
            ("demonym", extras.demonyms),
            ("capital", extras.capitals),
            ("prefix", extras.prefixes),
        ):
            forms.extend(Form(a.text, code, kind, a.case == "exact") for a in aliases)  # type: ignore[arg-type]
        forms.extend(Form(name, code, "official", True) for name in extras.officials)
    return forms


def country_name(code: str) -> str:
    """A readable English name for an ISO code (common name where pycountry has one)."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name
