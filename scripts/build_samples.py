#!/usr/bin/env python3
"""Build the demo feeds in config/samples/ from a folder of seed documents (the team keeps them; they are not
part of the repository) plus the ordinary news below. Usage: python scripts/build_samples.py SEEDS_DIR

Run from the project folder: `python scripts/build_samples.py [SEEDS_DIR]`. The output is committed,
so `make run` does not need the seeds folder; rerun this only when the seeds or the items change.
The extra items are written for the demo (not real reporting): sport, economy and weather to give
tagging something to ignore, and counter-terrorism items that exercise bilateral event detection
(agreements, dialogues, intent, multilateral, negated and old instruments). Each of them carries the category
DEMO_TAG, so that it is marked as written for the demo and config/feeds.demo.yaml can keep it recent
(`demo_recent_as_of`); the seed documents keep their real dates.
"""

from __future__ import annotations

import html
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from pipeline.normalise import DEMO_TAG, DEMO_TAG_SCHEME

OUT = Path(__file__).resolve().parent.parent / "config" / "samples"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
ATOM_NS = "http://www.w3.org/2005/Atom"

# Seed documents: file prefix -> metadata. `skip` drops leading lines that are page furniture
# (tickers, bylines, notices) rather than the article.
SEEDS = {
    "000": dict(
        feed="malaymail",
        title="PM Najib calls for enhancing counter-terror cooperation with the US",
        link="https://www.malaymail.com/news/malaysia/2017/07/11/pm-najib-calls-for-enhancing-counter-terror-cooperation-with-the-us/1418543",
        date="2017-07-11T21:40:00+08:00",
        author="Bernama",
        skip=1,
    ),
    "001": dict(
        feed="brecorder",
        title="Cooperation emphasised: Pak-US antiterrorism dialogue concludes",
        link="https://www.brecorder.com/news/40302462/cooperation-emphasised-pak-us-antiterrorism-dialogue-concludes",
        date="2024-05-14T05:18:00+05:00",
        author="Ali Hussain",
        skip=4,
    ),
    "002": dict(
        feed="analysis",
        title="Malaysian counter-terrorism efforts: agencies, laws and regional cooperation",
        link="https://analysis.example.org/asian-military-operations/malaysian-counter-terrorism-efforts",
        date="2025-02-03T09:00:00+00:00",
        author=None,
        skip=1,
    ),
    "003": dict(
        feed="benarnews",
        title="68 Nations Meet in Washington, Vow to Wipe Out Islamic State",
        link="https://www.benarnews.org/english/news/malaysian/islamic-state-coalition-03222017172749.html",
        date="2017-03-22T17:27:00-04:00",
        author="BenarNews staff",
        skip=4,
    ),
}

FEEDS = {
    "malaymail": dict(
        kind="rss", file="malaymail.rss.xml", title="Malay Mail (demo)", home="https://www.malaymail.com/"
    ),
    "brecorder": dict(
        kind="rss", file="brecorder.rss.xml", title="Business Recorder (demo)", home="https://www.brecorder.com/"
    ),
    "benarnews": dict(
        kind="atom", file="benarnews.atom.xml", title="BenarNews (demo)", home="https://www.benarnews.org/"
    ),
    "analysis": dict(
        kind="atom",
        file="analysis.atom.xml",
        title="Asian military operations blog (demo)",
        home="https://analysis.example.org/",
    ),
    "wire": dict(
        kind="rss",
        file="world-wire.rss.xml",
        title="World wire (demo)",
        home="https://wire.example.org/",
        summary_only=True,
    ),
}

# Ordinary and counter-terrorism items written for the demo.
ITEMS = [
    # Malay Mail (demo)
    (
        "malaymail",
        "2026-11-20T08:15:00+08:00",
        "Ringgit firms against US dollar on steady export data",
        "https://www.malaymail.com/news/money/2026/11/20/ringgit-firms-against-us-dollar/2001001",
        "The ringgit opened higher against the US dollar on Friday as exports rose for a third month. Dealers said "
        "palm oil and electronics shipments supported the currency.\nBank Negara Malaysia kept its policy rate unchanged "
        "at its last meeting, and economists expect it to hold through the first quarter.",
    ),
    (
        "malaymail",
        "2026-11-20T19:30:00+08:00",
        "Malaysian shuttlers reach semi-finals in Hong Kong",
        "https://www.malaymail.com/news/sports/2026/11/20/malaysian-shuttlers-reach-semi-finals/2001002",
        "Malaysia's top men's doubles pair beat the Danish second seeds in straight games to reach the semi-finals of "
        "the Hong Kong Open. The coach praised their defence in the long rallies of the second game.",
    ),
    (
        "malaymail",
        "2026-11-21T07:00:00+08:00",
        "MetMalaysia warns of continuous rain in Kelantan and Terengganu",
        "https://www.malaymail.com/news/malaysia/2026/11/21/metmalaysia-warns-of-continuous-rain/2001003",
        "The Malaysian Meteorological Department issued a warning of continuous heavy rain in Kelantan and Terengganu "
        "until Monday as the north-east monsoon strengthens. Residents of low-lying areas were told to prepare for "
        "floods, and relief centres have been readied.",
    ),
    (
        "malaymail",
        "2026-11-21T16:45:00+08:00",
        "Malaysia and Thailand sign MoU on border security and counter-terrorism intelligence sharing",
        "https://www.malaymail.com/news/malaysia/2026/11/21/malaysia-thailand-sign-mou-border-security/2001004",
        "PUTRAJAYA, Nov 21 - Malaysia and Thailand today signed a memorandum of understanding on border security "
        "and the sharing of counter-terrorism intelligence, the Home Ministry said.\nThe MoU, signed by the two home "
        "ministers, sets up a joint working group on cross-border movements of militants and on terrorist financing "
        "along the shared border. Royal Malaysia Police Special Branch officers will train with their Thai "
        "counterparts next year.",
    ),
    (
        "malaymail",
        "2026-11-22T11:20:00+08:00",
        "Police detain five suspected Daesh militants in Sabah raids",
        "https://www.malaymail.com/news/malaysia/2026/11/22/police-detain-five-suspected-daesh-militants/2001005",
        "KOTA KINABALU, Nov 22 - Police arrested five men suspected of links to Daesh in raids across Sabah, the "
        "Inspector-General of Police said. They are being held under the Security Offences (Special Measures) Act "
        "2012 (SOSMA). Officers seized phones and material promoting the militant group.",
    ),
    (
        "malaymail",
        "2026-11-22T14:05:00+08:00",
        "Palm oil futures slip as Indian demand cools",
        "https://www.malaymail.com/news/money/2026/11/22/palm-oil-futures-slip/2001006",
        "Crude palm oil futures on Bursa Malaysia Derivatives fell for a second day as buyers in India held back "
        "purchases ahead of the festive season. Traders expect stocks to rise in December.",
    ),
    # Business Recorder (demo)
    (
        "brecorder",
        "2026-11-20T17:10:00+05:00",
        "KSE-100 closes higher on banking stocks",
        "https://www.brecorder.com/news/40400001/kse-100-closes-higher-on-banking-stocks",
        "The benchmark KSE-100 index of the Pakistan Stock Exchange gained 0.8 percent on Friday, led by banking and "
        "cement shares. Volumes rose to their highest in two weeks.",
    ),
    (
        "brecorder",
        "2026-11-21T20:00:00+05:00",
        "Pakistan beat Sri Lanka by six wickets in Rawalpindi ODI",
        "https://www.brecorder.com/news/40400002/pakistan-beat-sri-lanka-by-six-wickets",
        "Pakistan chased down 287 with six wickets and eleven balls to spare in the second one-day international in "
        "Rawalpindi, taking an unbeatable lead in the three-match series.",
    ),
    (
        "brecorder",
        "2026-11-21T09:00:00+05:00",
        "Smog and cold wave to persist across Punjab, says PMD",
        "https://www.brecorder.com/news/40400003/smog-and-cold-wave-to-persist-across-punjab",
        "The Pakistan Meteorological Department forecast dry and cold weather with dense smog in Punjab for the rest of "
        "the week. Schools in Lahore will stay closed until Wednesday.",
    ),
    (
        "brecorder",
        "2026-11-22T12:30:00+05:00",
        "Pakistan and China pledge closer counter-terrorism cooperation",
        "https://www.brecorder.com/news/40400004/pakistan-and-china-pledge-closer-counter-terrorism-cooperation",
        "ISLAMABAD: Pakistan and China called for closer cooperation against terrorism and vowed to protect Chinese "
        "nationals working on CPEC projects, the Foreign Office said after a call between the two foreign ministers. "
        "No new agreement was signed; officials said they would meet early next year.",
    ),
    (
        "brecorder",
        "2026-11-22T18:40:00+05:00",
        "Islamabad rejects talks with TTP after attack on police post",
        "https://www.brecorder.com/news/40400005/islamabad-rejects-talks-with-ttp",
        "The federal government rejected any talks with the banned Tehreek-e-Taliban Pakistan (TTP) after militants "
        "attacked a police post in Khyber Pakhtunkhwa, killing three officers. Afghanistan and Pakistan failed to agree "
        "on a mechanism for border crossings last month.",
    ),
    # BenarNews (demo)
    (
        "benarnews",
        "2026-11-20T10:00:00+07:00",
        "Indonesia, Australia hold annual counter-terrorism dialogue in Jakarta",
        "https://www.benarnews.org/english/news/indonesian/ct-dialogue-11202026.html",
        "Indonesia and Australia held their annual counter-terrorism dialogue in Jakarta on Wednesday, co-chaired by "
        "senior officials of the two foreign ministries. The talks covered returning foreign fighters, deradicalisation "
        "programmes in prisons and online propaganda by Islamic State supporters.",
    ),
    (
        "benarnews",
        "2026-11-20T15:30:00+08:00",
        "Philippine troops clash with Abu Sayyaf remnants in Sulu",
        "https://www.benarnews.org/english/news/philippine/sulu-clash-11202026.html",
        "Soldiers clashed with a small band of Abu Sayyaf militants in the hinterlands of Sulu province, the military "
        "said, in an operation that left two militants dead. The army said the group had been weakened by surrenders.",
    ),
    (
        "benarnews",
        "2026-11-21T09:45:00+08:00",
        "Malaysia, Indonesia and the Philippines expand trilateral sea patrols",
        "https://www.benarnews.org/english/news/malaysian/trilateral-patrols-11212026.html",
        "Malaysia, Indonesia and the Philippines agreed to expand their trilateral maritime patrols in the Sulu Sea to "
        "counter kidnappings for ransom by militants. The three navies will share intelligence in real time.",
    ),
    (
        "benarnews",
        "2026-11-22T13:00:00+06:00",
        "Bangladesh seeks to revive mutual legal assistance talks with India",
        "https://www.benarnews.org/english/news/bengali/mla-talks-11222026.html",
        "Bangladesh wants to revive talks with India on a mutual legal assistance treaty, the home minister said. The "
        "memorandum on security cooperation the two countries signed in 2015 remains in force, he added.",
    ),
    (
        "benarnews",
        "2026-11-22T17:20:00+08:00",
        "Thai south: ceasefire talks stall as violence continues",
        "https://www.benarnews.org/english/news/thai/south-talks-11222026.html",
        "Peace talks between the Thai government and the Barisan Revolusi Nasional stalled again this week, with "
        "Malaysia as facilitator. A bomb in Narathiwat injured two rangers on Tuesday.",
    ),
    # World wire (demo): summaries only, like many real feeds.
    (
        "wire",
        "2026-11-20T06:00:00+00:00",
        "Oil prices steady as OPEC+ keeps output plan",
        "https://wire.example.org/business/oil-prices-steady-opec",
        "Brent crude held near $78 a barrel after OPEC+ confirmed it would keep its production plan for the first quarter.",
    ),
    (
        "wire",
        "2026-11-20T12:00:00+00:00",
        "Storm brings heavy snow to the Alps ahead of ski season",
        "https://wire.example.org/weather/alps-snow-storm",
        "A storm dropped up to a metre of snow on parts of the Alps, closing passes in Switzerland and Austria.",
    ),
    (
        "wire",
        "2026-11-20T21:00:00+00:00",
        "Champions League: late goal sends holders through",
        "https://wire.example.org/sport/champions-league-late-goal",
        "A stoppage-time header sent the holders into the knockout rounds with a game to spare.",
    ),
    (
        "wire",
        "2026-11-21T08:30:00+00:00",
        "Central banks signal pause as inflation eases",
        "https://wire.example.org/business/central-banks-pause",
        "Several central banks signalled a pause in rate cuts as inflation eased towards target in most big economies.",
    ),
    (
        "wire",
        "2026-11-21T14:00:00+00:00",
        "Tennis: veteran wins indoor title in three sets",
        "https://wire.example.org/sport/tennis-indoor-title",
        "The 34-year-old came back from a set down to win his first indoor title in four years.",
    ),
    (
        "wire",
        "2026-11-21T18:00:00+00:00",
        "Cyclone weakens before landfall in Queensland",
        "https://wire.example.org/weather/cyclone-queensland",
        "The cyclone weakened to category two before crossing the Queensland coast, bringing heavy rain but little damage.",
    ),
    (
        "wire",
        "2026-11-22T09:00:00+00:00",
        "Chipmakers lead Asian shares higher",
        "https://wire.example.org/business/asian-shares-chipmakers",
        "Asian shares rose, led by chipmakers in Taiwan and South Korea, after strong results from a US peer.",
    ),
    # The same story as in the Malay Mail feed, with tracking parameters: dropped as a cross-feed duplicate.
    (
        "wire",
        "2026-11-21T17:05:00+00:00",
        "Malaysia and Thailand sign MoU on border security and counter-terrorism intelligence sharing",
        "https://www.malaymail.com/news/malaysia/2026/11/21/malaysia-thailand-sign-mou-border-security/2001004"
        "?utm_source=wire&utm_medium=rss#top",
        "Malaysia and Thailand signed a memorandum of understanding on border security and the sharing of "
        "counter-terrorism intelligence.",
    ),
]


def seed_items(seeds_dir: Path) -> list[tuple[str, str, str, str, str, str | None, bool]]:
    """Items of the seed documents: (feed, date, title, link, body, author, written_for_demo=False)."""
    items = []
    for path in sorted(seeds_dir.glob("*.txt")):
        meta = SEEDS[path.name[:3]]
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        body = "\n".join(line for line in lines[meta["skip"] :] if line)
        items.append((meta["feed"], meta["date"], meta["title"], meta["link"], body, meta["author"], False))
    return items


def paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())


def build_rss(feed_id: str, meta: dict, items: list) -> ET.ElementTree:
    ET.register_namespace("content", CONTENT_NS)
    ET.register_namespace("dc", DC_NS)
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = meta["title"]
    ET.SubElement(channel, "link").text = meta["home"]
    ET.SubElement(channel, "description").text = f"Demo feed for Newswatch: {meta['title']}"
    ET.SubElement(channel, "language").text = "en"
    for _, date, title, link, body, author, demo in sorted(items, key=lambda i: i[1], reverse=True):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = title
        ET.SubElement(item, "link").text = link
        ET.SubElement(item, "guid", isPermaLink="true").text = link
        ET.SubElement(item, "pubDate").text = format_datetime(datetime.fromisoformat(date))
        if demo:
            ET.SubElement(item, "category", domain=DEMO_TAG_SCHEME).text = DEMO_TAG
        if author:
            ET.SubElement(item, f"{{{DC_NS}}}creator").text = author
        first = body.split("\n")[0]
        ET.SubElement(item, "description").text = first if len(first) < 300 else first[:297] + "..."
        if not meta.get("summary_only"):
            ET.SubElement(item, f"{{{CONTENT_NS}}}encoded").text = paragraphs(body)
    return ET.ElementTree(rss)


def build_atom(feed_id: str, meta: dict, items: list) -> ET.ElementTree:
    ET.register_namespace("", ATOM_NS)
    a = lambda tag: f"{{{ATOM_NS}}}{tag}"  # noqa: E731
    feed = ET.Element(a("feed"))
    ET.SubElement(feed, a("title")).text = meta["title"]
    ET.SubElement(feed, a("id")).text = meta["home"]
    ET.SubElement(feed, a("link"), href=meta["home"])
    ET.SubElement(feed, a("updated")).text = max(i[1] for i in items)
    for _, date, title, link, body, author, demo in sorted(items, key=lambda i: i[1], reverse=True):
        entry = ET.SubElement(feed, a("entry"))
        ET.SubElement(entry, a("title")).text = title
        ET.SubElement(entry, a("link"), href=link, rel="alternate")
        ET.SubElement(entry, a("id")).text = link
        ET.SubElement(entry, a("published")).text = date
        ET.SubElement(entry, a("updated")).text = date
        if demo:
            ET.SubElement(entry, a("category"), term=DEMO_TAG, scheme=DEMO_TAG_SCHEME)
        if author:
            ET.SubElement(ET.SubElement(entry, a("author")), a("name")).text = author
        ET.SubElement(entry, a("summary")).text = body.split("\n")[0][:300]
        ET.SubElement(entry, a("content"), type="html").text = paragraphs(body)
    return ET.ElementTree(feed)


def main() -> None:
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python scripts/build_samples.py SEEDS_DIR (the folder of seed documents)")
    seeds_dir = Path(sys.argv[1])
    items = seed_items(seeds_dir) + [(f, d, t, link, b, None, True) for f, d, t, link, b in ITEMS]
    OUT.mkdir(parents=True, exist_ok=True)
    for feed_id, meta in FEEDS.items():
        mine = [i for i in items if i[0] == feed_id]
        tree = (build_rss if meta["kind"] == "rss" else build_atom)(feed_id, meta, mine)
        ET.indent(tree)
        tree.write(OUT / meta["file"], encoding="utf-8", xml_declaration=True)
        print(f"{meta['file']}: {len(mine)} items")


if __name__ == "__main__":
    main()
