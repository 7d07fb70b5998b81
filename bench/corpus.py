"""A synthetic news corpus for the benchmarks, and the feeds that carry it.

Articles are built from sentence templates (economy, sport, weather, politics, health, technology) with
realistic lengths (4 to 10 paragraphs of 2 to 4 sentences, about 250 to 700 words); about 1 in 50 is a
counter-terrorism story, some with a bilateral agreement or dialogue between two countries. Everything is
drawn from a seeded random generator, so a size always gives the same corpus.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

COUNTRIES = [
    "Malaysia",
    "Indonesia",
    "Singapore",
    "Thailand",
    "the Philippines",
    "Pakistan",
    "India",
    "Australia",
    "Japan",
    "the United States",
    "France",
    "Germany",
    "Kenya",
    "Nigeria",
    "Egypt",
    "Turkey",
]
CITIES = ["Kuala Lumpur", "Jakarta", "Bangkok", "Manila", "Karachi", "Mumbai", "Sydney", "Osaka", "Lyon", "Nairobi"]
TOPICS: dict[str, list[str]] = {
    "economy": [
        "The central bank kept its benchmark rate at {n} percent, citing steady inflation and firm domestic demand.",
        "Exports rose {n} percent from a year earlier, led by electronics and palm oil shipments.",
        "Shares in {city} closed {n} percent higher as banks and telecom stocks gained.",
        "Analysts expect growth of about {n} percent this year, slightly below the government's forecast.",
        "The finance ministry said the budget deficit would narrow to {n} percent of output next year.",
        "Retail sales were lifted by holiday spending, the statistics office said on {day}.",
    ],
    "sport": [
        "The home side won {n}-{m} in front of a crowd of more than {k} thousand in {city}.",
        "The coach praised his defence after a hard-fought match that went to extra time.",
        "The sprinter set a national record of {n}.{m} seconds at the championships on {day}.",
        "Organisers said ticket sales for the final had passed {k} thousand.",
        "The captain, who scored twice, said the team would rest key players before the next round.",
    ],
    "weather": [
        "Heavy rain is expected in {city} until {day}, the meteorological department said.",
        "Temperatures reached {n} degrees Celsius, the highest reading this month.",
        "Flood warnings were issued for {k} districts after rivers rose overnight.",
        "Farmers welcomed the rain after weeks of dry weather that had delayed planting.",
        "The haze index stayed at moderate levels in most of the country on {day}.",
    ],
    "politics": [
        "The parliament approved the budget bill by {n} votes to {m} after a long debate.",
        "The opposition leader called for an inquiry into the procurement of new buses for {city}.",
        "The cabinet reshuffle, announced on {day}, brought {n} new ministers into the government.",
        "Voters in {city} will elect a new mayor next month, the election commission said.",
        "The prime minister said the reforms would be phased in over {n} years.",
    ],
    "health": [
        "Hospitals in {city} reported {k} hundred new cases of dengue fever this week.",
        "The health ministry launched a vaccination drive aimed at {n} million children.",
        "Doctors urged residents to drink more water during the hot season.",
        "A new clinic with {n} beds opened on {day} in the northern suburbs.",
    ],
    "technology": [
        "The start-up raised {n} million dollars to expand its payments service across the region.",
        "The telecom operator said its new network would cover {n} percent of the population by next year.",
        "Engineers in {city} unveiled a prototype electric bus with a range of {k} hundred kilometres.",
        "The company plans to hire {n} hundred software developers over the next two years.",
    ],
}
CT_SENTENCES = [
    "Police in {city} arrested {n} suspected militants linked to the Islamic State group, officials said.",
    "The counter-terrorism unit said the suspects had been planning attacks on places of worship.",
    "Authorities froze bank accounts suspected of terrorist financing, the interior ministry said.",
    "The deradicalisation programme has rehabilitated {k} hundred former detainees since it began.",
    "Security forces raised the threat level after intelligence about a planned bombing.",
    "Officials warned that foreign fighters returning from Syria remained a threat to the region.",
]
CT_EVENTS = [
    "{a} and {b} signed a memorandum of understanding on counter-terrorism cooperation on {day}.",
    "{a} and {b} held a bilateral counter-terrorism dialogue in {city} to discuss intelligence sharing.",
    "Officials from {a} and {b} agreed to hold joint training on countering violent extremism.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SyntheticArticle:
    n: int
    title: str
    paragraphs: list[str]
    link: str
    published: datetime
    ct: bool

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def _fill(rng: random.Random, template: str) -> str:
    a, b = rng.sample(COUNTRIES, 2)
    return template.format(
        n=rng.randint(2, 99),
        m=rng.randint(0, 9),
        k=rng.randint(2, 90),
        city=rng.choice(CITIES),
        day=rng.choice(DAYS),
        a=a,
        b=b,
    )


def article(n: int) -> SyntheticArticle:
    """Article number `n` of the corpus (the same every time)."""
    rng = random.Random(n)
    ct = n % 50 == 7
    pool = CT_SENTENCES if ct else TOPICS[rng.choice(sorted(TOPICS))]
    paragraphs = []
    for p in range(rng.randint(4, 10)):
        sentences = [_fill(rng, rng.choice(pool)) for _ in range(rng.randint(2, 4))]
        if ct and p == 0:
            sentences.insert(0, _fill(rng, rng.choice(CT_EVENTS)))
        paragraphs.append(" ".join(sentences))
    title = paragraphs[0].split(",")[0].split(" said")[0][:90].rstrip(".")
    return SyntheticArticle(
        n,
        title,
        paragraphs,
        f"https://news{n % 97}.example/{n // 97}/story-{n}.html",
        T0 + timedelta(minutes=n % 30_000),
        ct,
    )


def articles(count: int, start: int = 0) -> Iterator[SyntheticArticle]:
    return (article(n) for n in range(start, start + count))


def rss(feed: str, items: list[SyntheticArticle]) -> bytes:
    body = "".join(
        f'<item><title>{escape(a.title)}</title><link>{a.link}</link><guid isPermaLink="true">{a.link}</guid>'
        f"<pubDate>{format_datetime(a.published)}</pubDate>"
        f"<description>{escape(a.paragraphs[0])}</description>"
        f"<content:encoded><![CDATA[{''.join(f'<p>{escape(p)}</p>' for p in a.paragraphs)}]]></content:encoded>"
        "</item>"
        for a in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        f'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>{feed}</title>'
        f"<link>https://{feed}.example/</link><description>Synthetic news</description>{body}</channel></rss>"
    ).encode()


def atom(feed: str, items: list[SyntheticArticle]) -> bytes:
    body = "".join(
        f'<entry><title>{escape(a.title)}</title><link rel="alternate" href="{a.link}"/><id>{a.link}</id>'
        f"<updated>{a.published.isoformat()}</updated><summary>{escape(a.paragraphs[0])}</summary>"
        f'<content type="html">{escape("".join(f"<p>{escape(p)}</p>" for p in a.paragraphs))}</content></entry>'
        for a in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{feed}</title>'
        f"<id>https://{feed}.example/</id><updated>{T0.isoformat()}</updated>{body}</feed>"
    ).encode()


def write_feeds(folder: Path, sizes: list[int], start: int = 0) -> list[tuple[str, int]]:
    """Feeds of the given sizes (items) into `folder`, alternately RSS and Atom; returns (file name, items)."""
    folder.mkdir(parents=True, exist_ok=True)
    written, n = [], start
    for i, size in enumerate(sizes):
        items = list(articles(size, n))
        n += size
        name = f"feed-{i:05d}.{'rss' if i % 2 == 0 else 'atom'}.xml"
        (folder / name).write_bytes(rss(f"feed{i}", items) if i % 2 == 0 else atom(f"feed{i}", items))
        written.append((name, size))
    return written
