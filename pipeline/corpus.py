"""The real-news corpus (tests/data/news/): excerpts of published news, labelled by docs/labelling.md.

Three splits, one YAML file each: `train` and `dev` (look at them and tune freely) and `test` (frozen: labelled
before the tagger saw it, scored only to report). An item's split is fixed by a hash of its URL when it is
added, so no choice of items can favour a split. The sha256 of test.yaml is kept in test.sha256; the test
suite fails when the frozen split changes without that file being changed with it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from pipeline.config import PROJECT_DIR, ConfigError, load_model
from pipeline.fields import CountryCode, unique
from pipeline.models import ALERT_TYPES, NEW_STATUSES, EventTypeName, ListedStatus

NEWS_DIR = PROJECT_DIR / "tests" / "data" / "news"
SPLITS = ("train", "dev", "test")
TEST_SHARE, DEV_SHARE = 0.45, 0.2  # of the hash range; the rest is train
KINDS = (
    "agreement",
    "dialogue",
    "planned",
    "failed",
    "backgrounder",
    "earlier",
    "multilateral",
    "organisation",
    "non_ct",
    "material",
    "intent",
    "domestic",
    "attack",
    "arrest",
    "other",
)
LICENCES = ("public domain", "CC BY", "Open Government Licence")
# official statements: whose government speaks in pages of these hosts (news outlets such as VOA speak for none)
GOVERNMENT_HOSTS = {
    "state.gov": "US",
    "defense.gov": "US",
    "justice.gov": "US",
    "usembassy.gov": "US",
    "mil": "US",
    "whitehouse.gov": "US",
    "archives.gov": "US",  # the White House archives of past administrations (obamawhitehouse.archives.gov, ...)
    "presidency.ucsb.edu": "US",  # The American Presidency Project: the President's own documents
    "webarchive.library.unt.edu": "US",  # the UNT Libraries' archive of U.S. federal sites (End of Term)
    "defenselink.mil": "US",
    "gov.uk": "GB",
    "dfat.gov.au": "AU",
    "foreignminister.gov.au": "AU",
    "pm.gov.au": "AU",
    "beehive.govt.nz": "NZ",
}


class NewsEvent(BaseModel):
    """A labelled bilateral event frame (docs/labelling.md: failed and earlier happenings are not listed)."""

    model_config = ConfigDict(extra="forbid")

    type: EventTypeName
    parties: list[CountryCode] = Field(min_length=2, max_length=2)
    status: ListedStatus
    instrument: str | None = None
    ct_relevant: bool

    @field_validator("parties")
    @classmethod
    def _two_countries(cls, v: list[str]) -> list[str]:
        if v[0] == v[1]:
            raise ValueError("the two parties are the same country")
        return sorted(v)

    @property
    def dyad(self) -> str:
        return "-".join(self.parties)


# What every copied excerpt carries (news items, duplicate pairs): where it was published, when, its text.
WebUrl = Annotated[str, Field(pattern=r"^https?://")]
PublishedDate = Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]  # YYYY, YYYY-MM or YYYY-MM-DD
Excerpt = Annotated[str, Field(min_length=1)]


def reusable(licence: str) -> str:
    """The licence, when it allows reuse (docs/labelling.md); else ValueError."""
    if not licence.startswith(LICENCES):
        raise ValueError(f"licence {licence!r} does not allow reuse (expected one of {LICENCES})")
    return licence


class NewsItem(BaseModel):
    """One excerpt of published news with its source, licence and labels."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    url: WebUrl
    source: str
    licence: str
    published: PublishedDate
    title: str
    text: Excerpt
    kind: Literal[KINDS]  # type: ignore[valid-type]
    alert: bool
    events: list[NewsEvent] = Field(default_factory=list)
    note: str = ""

    @field_validator("licence")
    @classmethod
    def _reusable(cls, v: str) -> str:
        return reusable(v)

    @model_validator(mode="after")
    def _alert_follows_events(self) -> NewsItem:
        _check_alert(self.alert, self.events)
        return self

    @property
    def year(self) -> int:
        return int(self.published[:4])

    @property
    def speaks_for(self) -> str | None:
        """The government an official page speaks for, from its host (FeedConfig.speaks_for in a feed)."""
        host = urlsplit(self.url).hostname or ""
        return next(
            (code for suffix, code in GOVERNMENT_HOSTS.items() if host == suffix or host.endswith("." + suffix)), None
        )


class NewsFile(RootModel[list[NewsItem]]):
    pass


def _check_alert(alert: bool, events: list[NewsEvent]) -> None:
    expected = any(e.ct_relevant and e.type in ALERT_TYPES and e.status in NEW_STATUSES for e in events)
    if alert != expected:
        raise ValueError(f"alert is {alert} but the events say {expected} (docs/labelling.md, 'alert')")


class SecondLabel(BaseModel):
    """A second annotator's labels of a corpus item, made from the guide and the excerpt alone, without seeing
    the first labels or the tagger (docs/labelling.md, "Agreement between annotators")."""

    model_config = ConfigDict(extra="forbid")

    id: str
    alert: bool
    kind: Literal[KINDS]  # type: ignore[valid-type]
    events: list[NewsEvent] = Field(default_factory=list)
    doubt: str = ""

    @model_validator(mode="after")
    def _alert_follows_events(self) -> SecondLabel:
        _check_alert(self.alert, self.events)
        return self


class SecondFile(RootModel[list[SecondLabel]]):
    @model_validator(mode="after")
    def _unique(self) -> SecondFile:
        unique((label.id for label in self.root), "id")
        return self


def second_labels(split: str, folder: Path = NEWS_DIR) -> list[SecondLabel] | None:
    """The second annotator's labels of a split (folder/second/<split>.yaml), or None when there are none."""
    path = folder / "second" / f"{split}.yaml"
    return load_model(SecondFile, path).root if path.exists() else None


UNCHECKED_LICENCE = "unchecked (analyst feedback): set the source's licence (docs/labelling.md) before adding it"


class FeedbackItem(NewsItem):
    """An analyst's judgement of an alert in the corpus format (`newswatch alerts export-feedback`): the same
    labels, its licence unchecked until someone checks the source's terms (then `newswatch corpus add`)."""

    @field_validator("licence")
    @classmethod
    def _reusable(cls, v: str) -> str:
        if not v.startswith((*LICENCES, UNCHECKED_LICENCE)):
            raise ValueError(f"licence {v!r} does not allow reuse (expected one of {LICENCES})")
        return v


def split_of(url: str) -> str:
    """The split an item with this URL belongs to, fixed by the URL's hash."""
    share = int(hashlib.sha256(url.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if share < TEST_SHARE else "dev" if share < TEST_SHARE + DEV_SHARE else "train"


def split_path(split: str, folder: Path = NEWS_DIR) -> Path:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return folder / f"{split}.yaml"


def load_split(split: str, folder: Path = NEWS_DIR) -> list[NewsItem]:
    """The items of one split, validated; ids and URLs are unique and every item is in its own split."""
    path = split_path(split, folder)
    items = load_model(NewsFile, path).root
    try:
        unique((i.id for i in items), "id")
        unique((i.url for i in items), "url")
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    strays = [i.id for i in items if split_of(i.url) != split]
    if strays:
        raise ConfigError(f"{path}: items whose URL hashes to another split: {strays}")
    return items


def frozen_digest(folder: Path = NEWS_DIR) -> str:
    """The sha256 of the frozen test split's file."""
    return hashlib.sha256(split_path("test", folder).read_bytes()).hexdigest()


def add_items(files: list[Path], folder: Path = NEWS_DIR, skip_known: bool = False) -> dict[str, int]:
    """Add the items of new labelled files to the split their URLs hash to; returns how many went where
    (and, under "skipped", how many were already there).

    Every file is validated whole first, and an id or URL already in the corpus is refused (or, with
    `skip_known`, skipped: the same story collected twice), so nothing is added unless everything can be.
    The frozen split's digest (test.sha256) is rewritten: adding
    newly labelled items is the one way the test split may change.
    """
    incoming = [item for path in files for item in load_model(NewsFile, path).root]
    current = {split: load_split(split, folder) if split_path(split, folder).exists() else [] for split in SPLITS}
    known_ids = {i.id for items in current.values() for i in items}
    known_urls = {i.url for items in current.values() for i in items}
    fresh: list[NewsItem] = []
    for item in incoming:
        if item.id in known_ids or item.url in known_urls:
            if skip_known:
                continue
            raise ConfigError(f"{item.id}: already in the corpus (same id or URL: {item.url})")
        known_ids.add(item.id)
        known_urls.add(item.url)
        fresh.append(item)
    added = dict.fromkeys(SPLITS, 0)
    added["skipped"] = len(incoming) - len(fresh)
    for item in fresh:
        split = split_of(item.url)
        current[split].append(item)
        added[split] += 1
    for split, items in current.items():
        write_split(split, items, folder)
    (folder / "test.sha256").write_text(frozen_digest(folder) + "\n", encoding="utf-8")
    return added


def write_split(split: str, items: list[NewsItem], folder: Path = NEWS_DIR) -> None:
    """Write one split as YAML, items sorted by id, each field in the labelling guide's order."""
    import yaml

    header = (
        f"# Real-news corpus, split '{split}' (docs/labelling.md). Each item: source, licence, URL and the\n"
        "# excerpt as published; labels by hand before the tagger ran. Added with `newswatch corpus add`.\n"
    )
    data = [item.model_dump(exclude_none=True) for item in sorted(items, key=lambda i: i.id)]
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    split_path(split, folder).write_text(header + body, encoding="utf-8")


def corpus_stats(folder: Path = NEWS_DIR) -> dict[str, dict[str, object]]:
    """Per split: items, alerts, and counts of kinds and sources."""
    from collections import Counter

    figures: dict[str, dict[str, object]] = {}
    for split in SPLITS:
        items = load_split(split, folder)
        figures[split] = {
            "items": len(items),
            "alerts": sum(i.alert for i in items),
            "kinds": dict(Counter(i.kind for i in items).most_common()),
            "sources": dict(Counter(i.source for i in items).most_common()),
        }
    return figures
