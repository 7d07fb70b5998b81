"""Field types shared by every config and data model, and the one check that ids are unique."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BeforeValidator

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise ValueError("must be lower-case letters, digits, '_' or '-', starting with a letter or digit")
    return value


def _known_country(code: str) -> str:
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"must be an ISO 3166-1 alpha-2 code such as MY ({code!r} is not an ISO 3166-1 code)")
    return code


# An identifier that is safe in file names, URLs and Elasticsearch names: "vanguard-my", "bilateral_agreements".
Slug = Annotated[str, AfterValidator(_slug)]

# An ISO 3166-1 alpha-2 code pycountry knows, upper-cased on the way in ("my" -> "MY"; "XX" is refused).
CountryCode = Annotated[str, BeforeValidator(_upper), AfterValidator(_known_country)]


def unique(values: Iterable[str], what: str) -> None:
    """Raise ValueError naming every value that occurs more than once ("feed id 'a' is used twice")."""
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    if len(repeated) == 1:
        raise ValueError(f"{what} {repeated[0]!r} is used twice")
    if repeated:
        raise ValueError(f"{what}s used twice: {', '.join(map(repr, repeated))}")
