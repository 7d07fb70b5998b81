"""Taxonomy, gazetteer, tagging and bilateral events, in the fast (rules) and full (spaCy model) modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import PROJECT_DIR, ConfigError
from pipeline.countries import load_gazetteer
from pipeline.tagging import Tagger, build_nlp, get_tagger
from pipeline.taxonomy import load_taxonomy

REQUIRED = {
    "threat_actor": ["isis", "isis_k", "ttp", "al_qaeda", "jemaah_islamiyah", "abu_sayyaf"],
    "ct_theme": [
        "deradicalisation",
        "counter_messaging",
        "terrorist_financing",
        "intelligence_sharing",
        "capacity_building",
        "border_security",
        "legal_assistance",
        "foreign_fighters",
        "arrest_raid",
        "attack",
        "humanitarian_aid",
        "military_operation",
    ],
    "organisation": ["asean", "interpol", "fatf", "un", "oic", "gctf", "global_coalition"],
    "agency": ["rmp", "special_branch", "nsc_my", "searcct", "kscip", "us_state_ct"],
    "legal_framework": ["sosma", "poca"],
}


def test_taxonomy_has_the_required_ids_in_their_categories() -> None:
    taxonomy = load_taxonomy()
    for category, ids in REQUIRED.items():
        for cid in ids:
            assert taxonomy.category_of(cid) == category, cid
    assert taxonomy.ancestors("isis_k") == ["isis"]
    assert taxonomy.version


@pytest.mark.parametrize(
    "concepts, message",
    [
        (
            "- {id: a, category: threat_actor, label: A, aliases: [Alpha], sources: []}\n"
            "- {id: a, category: threat_actor, label: B, aliases: [Beta], sources: []}",
            "used twice",
        ),
        ("- {id: a, category: threat_actor, label: A, parent: zzz, aliases: [Alpha], sources: []}", "unknown parent"),
        ("- {id: a, category: threat_actor, label: A, aliases: [], sources: []}", "at least one alias"),
        ("- {id: a, category: threat_actor, label: A, aliases: [UN], sources: []}", "case: exact"),
        ("- {id: a, category: nope, label: A, aliases: [Alpha], sources: []}", "unknown category"),
        ("- {id: BadId, category: threat_actor, label: A, aliases: [Alpha], sources: []}", "snake_case"),
    ],
)
def test_bad_taxonomy_names_the_entry(tmp_path: Path, concepts: str, message: str) -> None:
    path = tmp_path / "taxonomy.yaml"
    text = "version: '1'\ncategories:\n- {id: threat_actor, label: T, weight: 1}\nconcepts:\n" + concepts + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value)


def test_gazetteer_has_names_short_forms_demonyms_capitals_prefixes() -> None:
    forms = {(f.text, f.code, f.kind) for f in load_gazetteer()}
    for expected in [
        ("Malaysia", "MY", "name"),
        ("US", "US", "name"),
        ("UAE", "AE", "name"),
        ("Thai", "TH", "demonym"),
        ("Islamabad", "PK", "capital"),
        ("Sino", "CN", "prefix"),
    ]:
        assert expected in forms


def test_officials_with_a_middle_initial_and_by_surname_after_the_full_name() -> None:
    """News names an official in full once, then by surname: the surname names the government only
    after the full name in the same document, and never when it is a common word ("in May")."""
    nlp = build_nlp(str(PROJECT_DIR / "config"))

    def named(text: str) -> list[tuple[str, str]]:
        doc = nlp(text)
        return [(s.text, s.label_) for s in doc.spans["countries"]]

    assert named("Attorney General Alberto R. Gonzales arrived.") == [("Alberto R. Gonzales", "US")]
    assert named("U-S envoy Thomas Pickering met Pakistani officials.") == [("U-S", "US"), ("Pakistani", "PK")]
    assert named("Rice spoke first. Condoleezza Rice met Downer; Rice said so.") == [
        ("Condoleezza Rice", "US"),
        ("Downer", "AU"),
        ("Rice", "US"),
    ]
    assert named("Theresa May flew to India in May.") == [("Theresa May", "GB"), ("India", "IN")]
    # a surname that is also a country's name is the official after the full name
    assert named("Lisa Monaco met Prime Minister Sarraj of Libya. Ms. Monaco thanked him.") == [
        ("Lisa Monaco", "US"),
        ("Libya", "LY"),
        ("Monaco", "US"),
    ]


@pytest.fixture(scope="module", params=["fast", "full"])
def tagger(request: pytest.FixtureRequest) -> Tagger:
    return get_tagger(request.param, str(PROJECT_DIR / "config"))


def events(tagger: Tagger, text: str, title: str = "", year: int = 2026) -> list[tuple[str, str, str]]:
    return [(e.type, e.dyad, e.status) for e in tagger.tag_texts(title, text, year).events]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "An MoU on counter-terrorism was signed by Malaysia and Thailand on Monday.",
            [("agreement", "MY-TH", "signed")],
        ),
        (
            "Malaysian and Thai officials signed a memorandum of understanding on intelligence sharing.",
            [("agreement", "MY-TH", "signed")],
        ),
        ("Washington and Islamabad held a counterterrorism dialogue on Monday.", [("dialogue", "PK-US", "held")]),
        (
            "Washington and Islamabad agreed to hold a counterterrorism dialogue next month.",
            [("dialogue", "PK-US", "planned")],
        ),
        ("Pak-US counterterrorism dialogue concludes in Washington.", [("dialogue", "PK-US", "held")]),
        ("Canada and Mexico signed a defence co-operation arrangement.", [("agreement", "CA-MX", "signed")]),
        # a misspelt verb of signing next to an instrument
        ("Malaysia and Thailand singed an MoU on counter-terrorism.", [("agreement", "MY-TH", "signed")]),
        # the region's press's own short forms
        ("PH and US officials signed a counter-terrorism MoU in Manila.", [("agreement", "PH-US", "signed")]),
        ("RI-Australia counter-terrorism talks were held in Jakarta.", [("dialogue", "AU-ID", "held")]),
        # a call named by how it was made took place
        (
            "Egypt's president pledged support to his Somali counterpart against al Shabaab in a telephone call.",
            [("dialogue", "EG-SO", "held")],
        ),
        # a meeting named by what is to be done at it
        (
            "Theresa May and Emmanuel Macron will agree counter-terrorism measures at a summit.",
            [("dialogue", "FR-GB", "planned")],
        ),
        # a meeting with an audience is no meeting of governments
        ("Malaysian and Thai officials spoke with reporters about terrorism on Monday.", []),
        # "later" with a past tense tells what came next
        (
            "Malaysia's foreign minister later met his Thai counterpart to discuss terrorism.",
            [("dialogue", "MY-TH", "held")],
        ),
        # an agreement reached is the outcome of talks, not an instrument signed
        (
            "Malaysia and Thailand reached an agreement on Monday to share intelligence on militants.",
            [("dialogue", "MY-TH", "held")],
        ),
        (
            "The agreement on border security was reached by Malaysia and Thailand on Monday.",
            [("dialogue", "MY-TH", "held")],
        ),
        ("The Sino-Pak security pact was signed in Beijing on Tuesday.", [("agreement", "CN-PK", "signed")]),
        ("Officials signed the US-Malaysia extradition treaty on Friday.", [("agreement", "MY-US", "signed")]),
        (
            "Malaysia's foreign minister met his Indonesian counterpart on Tuesday. "
            "The two countries signed an agreement on counter-terrorism training.",
            [("agreement", "ID-MY", "signed")],
        ),
        ("Indian and Bangladeshi troops began a joint exercise against militants.", [("material", "BD-IN", "held")]),
        # more than two countries: the two on either side of "met with" are the meeting's
        (
            "U.S. Secretary of State John Kerry met with China's foreign minister Wang Yi in Beijing, stressing the "
            "North Korean issue is a high priority for the U.S. government.",
            [("dialogue", "CN-US", "held")],
        ),
        # "a trip to four countries" is a journey, not a multilateral gathering
        (
            "On the last stop of a trip to four countries in Southeast Asia, Defense Secretary Chuck Hagel met today "
            "with Philippine defense leaders.",
            [("dialogue", "PH-US", "held")],
        ),
        # a visit "with" someone is a meeting, a visit "to" a place is not
        (
            "U.S. General Votel said he had good visits yesterday and this morning with Lebanese President Michel "
            "Aoun on the fight against Daesh.",
            [("dialogue", "LB-US", "held")],
        ),
        ("The U.S. general made a visit to Lebanon with his staff to see the fight against Daesh.", []),
        (
            "Malaysia called for closer cooperation with the United States against terrorism.",
            [("intent", "MY-US", "proposed")],
        ),
        (
            "Malaysia and the United States will sign a counter-terrorism memorandum next week.",
            [("agreement", "MY-US", "planned")],
        ),
        ("Indonesia and Australia are set to sign a counter-terrorism agreement.", [("agreement", "AU-ID", "planned")]),
        (
            "The third meeting of the U.S.-India Counterterrorism Working Group was held today.",
            [("dialogue", "IN-US", "held")],
        ),
        (
            "Defense Secretary Jim Mattis met with Malaysian Defense Minister Hishammuddin to discuss the fight "
            "against the Islamic State of Iraq and Syria.",
            [("dialogue", "MY-US", "held")],
        ),
    ],
)
def test_bilateral_events(tagger: Tagger, text: str, expected: list[tuple[str, str, str]]) -> None:
    assert events(tagger, text) == expected


@pytest.mark.parametrize(
    "title, text, expected",
    [
        ("Malaysia, US to sign counter-terrorism MoU", "", [("agreement", "MY-US", "planned")]),
        ("", "Talks between Kabul and Islamabad on militancy collapsed on Sunday.", []),
        ("", "Thailand and Malaysia called off their talks on the insurgency.", []),
        (
            "",
            "The two sides failed to sign the counter-terrorism pact. Earlier, Pakistan and Afghanistan met.",
            [("dialogue", "AF-PK", "held")],
        ),
        ("China, Russia to Start Anti-terror Talks", "", [("dialogue", "CN-RU", "planned")]),
        (
            "",
            "Pakistan has not answered an Indian proposal to sign a mutual legal assistance treaty on terrorism.",
            [("agreement", "IN-PK", "proposed")],
        ),
        (
            "",
            "U.S. counterterrorism coordinator Nathan Sales is traveling to Colombia on Tuesday to discuss "
            "terrorist threats with Colombian officials.",
            [("dialogue", "CO-US", "planned")],
        ),
        (
            "UK Foreign Secretary to visit India",
            "UK Foreign Secretary James Cleverly will arrive in India on Friday to meet his counterpart and discuss "
            "counter-terrorism cooperation.",
            [("dialogue", "GB-IN", "planned")],
        ),
        (
            "",
            "Nigeria has dispatched its defence minister to Chad for an urgent meeting with Chadian officials on "
            "Boko Haram.",
            [("dialogue", "NG-TD", "planned")],
        ),
        (
            "",
            "Russia and the United States said terrorism had been discussed during their regular bilateral meetings.",
            [],
        ),
        (
            "",
            "Bangladesh raised the arrests of militants at a bilateral meeting with Malaysia held on the sidelines "
            "of the ASEAN Regional Forum ministerial meeting.",
            [("dialogue", "BD-MY", "held")],
        ),
        (
            "The 3rd Japan-ROK Counter-Terrorism Consultation",
            "The 3rd Japan-ROK Counter-Terrorism Consultation was held on July 13 in Tokyo.",
            [("dialogue", "JP-KR", "held")],
        ),
        (
            "",
            "Mr. Putin is slated to sign six counter-terrorism agreements with Turkey.",
            [("agreement", "RU-TR", "planned")],
        ),
        (
            "",
            "Colombia and the United States agreed to act against the ELN. The conversation between the two leaders "
            "took place during a phone call Wednesday night, the first since Trump took office in January 2025.",
            [("dialogue", "CO-US", "held")],
        ),
        (
            "Mexico aims for meeting with US over designation of cartels as terrorists",
            "",
            [("dialogue", "MX-US", "proposed")],
        ),
        (
            "Pakistan, Afghanistan talks on militancy collapse",
            "Talks between Pakistan and Afghanistan on militancy collapsed on Sunday. The third round of talks "
            "between Pakistan and Afghanistan began on Thursday in Istanbul.",
            [],
        ),
        (
            "",
            "China's military chief is in Kabul, talking to the Afghan leadership about an alliance against terrorism.",
            [("dialogue", "AF-CN", "held")],
        ),
        # a pledge made together is talks held; a standing commitment (the perfect) stays a pledge
        (
            "",
            "The presidents of Kenya and Somalia vowed on Monday to work together against al-Shabaab.",
            [("dialogue", "KE-SO", "held")],
        ),
        ("", "Kenya and Somalia have committed to fighting al-Shabaab together.", [("intent", "KE-SO", "proposed")]),
        # a headline's subject naming both parties is joint too, however the parser attaches "U.S."
        (
            "U.S., Kenya Leaders Agree to Widen Fight Against Terrorism",
            "Officials gave no details.",
            [("dialogue", "KE-US", "held")],
        ),
        (
            "",
            "Ghana and Burkina Faso have reaffirmed their commitment to fight terrorism together.",
            [("dialogue", "BF-GH", "held")],
        ),
        # a trip made to meet: the meeting was held
        (
            "",
            "The U.S. president went to Iraq to meet with Iraqi leaders about terrorism.",
            [("dialogue", "IQ-US", "held")],
        ),
        # one government's own meeting; a regional summit two countries convened
        (
            "",
            "A meeting of the Union cabinet approved the memorandum between India and Australia on terrorism.",
            [],
        ),
        ("", "The United States and Argentina convened a regional summit on Hezbollah.", []),
        # an agreement still to be signed, agreed at talks held: the talks are the happening
        (
            "",
            "Indonesia will sign an extradition treaty with Australia, its foreign minister said after talks with his "
            "Australian counterpart on Monday.",
            [("dialogue", "AU-ID", "held")],
        ),
        # talks named by "after"/"during" took place, whatever verb they hang on
        (
            "",
            "Indonesia agreed to sign an extradition treaty with Australia after talks on Monday.",
            [("dialogue", "AU-ID", "held")],
        ),
        (
            "",
            "Egypt vowed to deepen cooperation with Libya against militants during a call between their leaders.",
            [("dialogue", "EG-LY", "held")],
        ),
        (
            "",
            "Counter-terrorism would be at the centre of discussions between Japan and India next week.",
            [("dialogue", "IN-JP", "planned")],
        ),
        (
            "",
            "Saudi Arabia's crown prince received a phone call from French President Macron about the terror attack.",
            [("dialogue", "FR-SA", "held")],
        ),
        (
            "",
            "Thailand and Singapore are close partners. Their defence chiefs met on Monday and agreed to share "
            "information on terrorist groups.",
            [("dialogue", "SG-TH", "held")],
        ),
        # talks after "after" with words between (config term_patterns): they took place
        (
            "",
            "China and the United States will improve cooperation on fighting terrorism, China's foreign ministry "
            "said after a leaders' summit in Washington.",
            [("dialogue", "CN-US", "held")],
        ),
        # a country that names a currency is no party: the meeting was the coalition's
        (
            "",
            "During the meeting Malaysia's foreign minister announced a contribution of U.S. $1 million to "
            "territories freed from Islamic State.",
            [],
        ),
        # an offer made "in talks": the talks took place
        (
            "",
            "Deputy Secretary of State Richard Armitage made the offer in talks in Riyadh with Saudi Arabia's Crown "
            "Prince Abdullah on terrorism.",
            [("dialogue", "SA-US", "held")],
        ),
        # an interjection "No" before the subject denies a question, not the talks ("no agreement" is a det)
        (
            "",
            "SECRETARY POWELL: No, and my conversation with the Saudi foreign minister demonstrated again that we "
            "are united against terror.",
            [("dialogue", "SA-US", "held")],
        ),
        ("", "No agreement on terrorism was signed by Pakistan and India.", []),
        # talks that ended after four days took place ("ended without agreement" is what fails)
        (
            "",
            "Senior U.S. and Indian defense officials have ended four days of talks in Washington on terrorism.",
            [("dialogue", "IN-US", "held")],
        ),
        # the infinitive of the object of a verb still to come
        (
            "",
            "President Bush will receive Philippine President Arroyo on July 30, and they will have an opportunity "
            "to discuss cooperation on counterterrorism.",
            [("dialogue", "PH-US", "planned")],
        ),
        # a past verb coordinated with a future one is not future, and shares its head's joint subject
        (
            "",
            "The United Kingdom and Australia will continue to work closely against terrorism, and agreed to "
            "increase levels of cooperation.",
            [("dialogue", "AU-GB", "held")],
        ),
    ],
)
def test_status_read_from_the_parse(title: str, text: str, expected: list[tuple[str, str, str]]) -> None:
    """Full mode reads modality, failure and negation off the dependency parse (config/events.yaml)."""
    assert events(get_tagger("full", str(PROJECT_DIR / "config")), text, title) == expected


def test_frames_carry_instrument_and_evidence() -> None:
    event = (
        get_tagger("full", str(PROJECT_DIR / "config"))
        .tag_texts("", "Pakistan and the United States signed an extradition treaty to fight terrorism.", 2026)
        .events[0]
    )
    assert (event.instrument, event.status) == ("extradition_treaty", "signed")
    assert event.evidence.trigger == "agreement.verbs+instruments" and event.evidence.status == "parse:done"
    assert event.evidence.concept == "counter_terrorism 'terrorism'"


def test_what_follows_about_another_pair_does_not_make_a_frame_ct(tagger: Tagger) -> None:
    """A sentence after a call that holds a frame of two other countries speaks of another happening: its
    counter-terrorism (and the article relevance it lends) is not what the call was about."""
    result = tagger.tag_texts(
        "PM call with President Erdogan of Turkey",
        "The Prime Minister spoke to President Erdogan of Turkey today about the situation in northern Syria. The "
        "Prime Minister and the President agreed to look for an opportunity to meet French President Macron and "
        "German Chancellor Merkel to discuss counter-terrorism and migration.",
        2019,
        "GB",
    )
    call = next(e for e in result.events if e.dyad == "GB-TR")
    assert (call.type, call.status, call.ct_relevant) == ("dialogue", "held", False)


def test_an_extradition_treaty_is_ct_only_when_tied_to_terrorism(tagger: Tagger) -> None:
    """Extradition and legal assistance alone (drugs, fraud) are no counter-terrorism (docs/labelling.md)."""
    text = "Mexico and the United States signed an extradition treaty to fight drug trafficking and fraud."
    result = tagger.tag_texts("", text, 2026)
    assert [(e.type, e.dyad, e.ct_relevant) for e in result.events] == [("agreement", "MX-US", False)]
    assert result.concepts == ["legal_assistance"]


def test_what_talks_were_about_is_no_party(tagger: Tagger) -> None:
    """A country after a verb of discussing is a subject of the talks; one after "with" or "by" takes part."""
    first = "Malaysia's foreign minister met his Thai counterpart on Monday. The two discussed Indonesia."
    assert events(tagger, first) == [("dialogue", "MY-TH", "held")]
    assert events(tagger, "The ministers discussed improving relations between Greece and Turkey.") == []
    pertained = (
        "Djibouti's foreign minister met Secretary Kerry on terrorism. The discussions pertained to the crises in the "
        "region, notably Yemen and Somalia."
    )
    assert events(tagger, pertained) == [("dialogue", "DJ-US", "held")]
    listed = "President Obasanjo of Nigeria met President Bush. The two presidents talked about Darfur and the Sudan."
    assert events(tagger, listed) == [("dialogue", "NG-US", "held")]
    with_party = "Malaysia's foreign minister discussed terrorism with his Thai counterpart on Monday."
    assert events(tagger, with_party) == [("dialogue", "MY-TH", "held")]
    # the end of a quotation ends what was discussed: the speaker after it takes part
    quoted = (
        "\u201cThe matters discussed included terrorism financing,\u201d the Australian minister said after talks "
        "with his Indonesian counterpart."
    )
    assert events(tagger, quoted) == [("dialogue", "AU-ID", "held")]


def test_where_a_journey_or_a_war_goes_is_no_party(tagger: Tagger) -> None:
    """A journey's stop ("en route Brussels, Belgium") names a place, "Russia's war against Ukraine" a topic,
    "the people of Libya" no government."""
    title = "Press Gaggle by Senior Administration Officials en route Brussels, Belgium"
    text = "President Obama spoke by phone with President Putin of Russia about terrorism."
    assert events(tagger, text, title) == [("dialogue", "RU-US", "held")]
    war = (
        "Tunisian and U.S. officials discussed security cooperation. Discussions also reflected on the global "
        "consequences of Russia's war against Ukraine."
    )
    assert events(tagger, war) == [("dialogue", "TN-US", "held")]
    people = "We agreed that it is important to continue our work to deliver services to the people of Libya."
    title = "Remarks With Saudi Foreign Minister Adel al-Jubeir After Their Meeting"
    remarks = tagger.tag_texts(title, people, 2016, "US")
    assert [(e.type, e.dyad, e.status) for e in remarks.events] == [("dialogue", "SA-US", "held")]


def test_a_party_named_as_a_topic_is_still_in_the_headlines_talks(tagger: Tagger) -> None:
    """A statement headed by two countries whose sentence of talks names one of them only as a topic speaks of
    those talks (a topic is no place of another happening)."""
    text = "Today we discussed India's role in Afghanistan and our counterterrorism cooperation."
    result = tagger.tag_texts("U.S.-India Relations", text, 2009, "US")
    assert [(e.type, e.dyad, e.status, e.ct_relevant) for e in result.events] == [("dialogue", "IN-US", "held", True)]


def test_may_before_a_verb_of_meeting_is_planned_even_in_a_headline(tagger: Tagger) -> None:
    title = "Egypt, Russia May Convene Counterterrorism Consultations"  # a headline's capitals hide the modal
    assert events(tagger, "", title) == [("dialogue", "EG-RU", "planned")]


def test_one_happening_is_one_event(tagger: Tagger) -> None:
    text = (
        "Malaysia and Indonesia held talks on terrorism on Monday. The two sides signed a memorandum of "
        "understanding on counter-terrorism and pledged to share intelligence."
    )
    assert events(tagger, text) == [("agreement", "ID-MY", "signed")]


@pytest.mark.parametrize(
    "text",
    [
        "Malaysia, Indonesia and the Philippines signed an agreement on maritime security.",
        "Malaysia and Indonesia signed a trilateral agreement with the Philippines on sea patrols.",
        "India and Pakistan did not sign the counter-terrorism pact.",
        "Malaysia and Thailand cancelled the signing of the border security MoU.",
        "Pakistan rejected talks with India on terrorism.",
        "The MoU signed in 2015 between Malaysia and Australia remains the basis of their cooperation.",
        "Malaysia signed an agreement on counter-terrorism.",
        "Malaysia and 67 other members of the coalition pledged to defeat Islamic State.",
    ],
)
def test_not_bilateral_new_events(tagger: Tagger, text: str) -> None:
    assert events(tagger, text) == []


def test_trade_deal_is_an_event_but_not_ct_relevant(tagger: Tagger) -> None:
    result = tagger.tag_texts(
        "Malaysia and Japan sign trade pact",
        "Malaysia and Japan signed a trade agreement on semiconductors and palm oil.",
        2026,
    )
    assert [(e.type, e.dyad, e.ct_relevant) for e in result.events] == [("agreement", "JP-MY", False)]
    assert result.relevance < 0.2


def test_concepts_case_rules_and_hierarchy(tagger: Tagger) -> None:
    quiet = tagger.tag_texts("Weather is fine", "The weather is sunny and the un-named park is open. It is calm.")
    assert quiet.concepts == [] and quiet.relevance == 0
    loud = tagger.tag_texts("IS claims attack", "ISIS-Khorasan and the TTP were discussed at the UN.")
    assert {"isis", "isis_k", "ttp", "un", "attack"} <= set(loud.concepts)
    assert "threat_actor" in loud.categories and loud.relevance > 0.8
    mention = next(m for m in loud.mentions if m.concept == "isis_k")
    assert mention.field == "text" and mention.text == "ISIS-Khorasan" and mention.start == 0


def test_combating_terror_is_counter_terrorism_unless_it_is_its_financing(tagger: Tagger) -> None:
    assert "counter_terrorism" in tagger.tag_texts("", "Three teams will work on combating terror and crime.").concepts
    financing = tagger.tag_texts("", "They signed an MoU on combating terror financing.").concepts
    assert "terrorist_financing" in financing and "counter_terrorism" not in financing


def test_full_mode_finds_entities_in_relevant_articles_only() -> None:
    tagger = get_tagger("full", str(PROJECT_DIR / "config"))
    result = tagger.tag_texts(
        "Terror threat",
        "Prime Minister Najib Razak spoke about the Islamic State threat at "
        "the Mandarin Oriental in Kuala Lumpur with Interpol officials.",
    )
    assert result.relevance >= tagger.entities_min_relevance
    assert any("Najib" in p for p in result.entities.get("persons", []))
    assert "Kuala Lumpur" in result.entities.get("places", [])
    quiet = tagger.tag_texts("", "Prime Minister Najib Razak spoke at the Mandarin Oriental in Kuala Lumpur.")
    assert quiet.relevance < tagger.entities_min_relevance and quiet.entities == {}


def test_memory_zones_keep_the_vocabulary_from_growing() -> None:
    """New words in every article would grow the string store without spaCy's memory zones."""
    tagger = get_tagger("fast", str(PROJECT_DIR / "config"))
    from datetime import UTC, datetime

    from pipeline.models import Article

    def batch(start: int) -> list[Article]:
        now = datetime.now(UTC)
        return [
            Article(
                id=str(i),
                feed_id="f",
                source="s",
                title=f"Headline zq{i}x",
                published_at=now,
                fetched_at=now,
                text=f"Malaysia and Thailand signed an MoU. Unique token wq{i}y and vq{i}z appear here.",
                content_hash=str(i),
            )
            for i in range(start, start + 500)
        ]

    list(tagger.tag(batch(0)))
    before = len(tagger.nlp.vocab.strings)
    tagged = list(tagger.tag(batch(10_000)))
    assert len(tagger.nlp.vocab.strings) == before
    assert all(a.event_dyads == ["MY-TH"] for a in tagged)


def test_an_official_statement_speaks_for_its_government() -> None:
    """A State Department transcript names only the other party; the feed says whom it speaks for."""
    tagger = get_tagger("full", str(PROJECT_DIR / "config"))
    title = "Remarks With Pakistani Foreign Minister Makhdoom Shah Mehmood Qureshi"
    text = "We had an excellent meeting. We discussed our cooperation against terrorism and violent extremism."
    found = tagger.tag_texts(title, text, 2009, speaks_for="US").events
    assert [(e.type, e.dyad, e.status, e.evidence.trigger) for e in found] == [
        ("dialogue", "PK-US", "held", "article:dialogue.phrases")
    ]
    assert tagger.tag_texts(title, text, 2009).events == []


def test_a_statement_whose_speaker_met_two_others_has_no_bilateral_meeting() -> None:
    """ "Remarks With" two other countries' ministers, from the State Department: three governments met."""
    tagger = get_tagger("full", str(PROJECT_DIR / "config"))
    title = "Remarks With Turkish Foreign Minister Ali Babacan and Iraqi Foreign Minister Hoshyar Zebari"
    text = "We discussed the progress that Turkey and Iraq made on the PKK terrorists at our meeting."
    assert [e.dyad for e in tagger.tag_texts(title, text, 2008).events] == ["IQ-TR"]  # a news outlet's page
    assert tagger.tag_texts(title, text, 2008, speaks_for="US").events == []


def test_an_opening_he_is_the_person_named_before() -> None:
    tagger = get_tagger("full", str(PROJECT_DIR / "config"))
    text = (
        "U.S. Defense Secretary Donald Rumsfeld was briefed on counter-terrorism operations. "
        "He also held talks with Djibouti's leaders."
    )
    assert events(tagger, text) == [("dialogue", "DJ-US", "held")]
    # one pronoun is one person: with no other country named, it does not pair the two named before
    text = "India accused Pakistan of harbouring terrorists. He spoke at a security council meeting in Islamabad."
    assert events(tagger, text) == []


def test_they_are_the_two_named_in_the_sentence_before() -> None:
    tagger = get_tagger("full", str(PROJECT_DIR / "config"))
    text = (
        "President Bush got a boost Wednesday from British Prime Minister Tony Blair. "
        "After talks at the White House they vowed to defeat the terrorist networks."
    )
    assert events(tagger, text) == [("dialogue", "GB-US", "held")]
    # only the sentence right before counts, and only when it named exactly two
    text = (
        "Britain, France and Germany condemned the bombing. "
        "After talks in London they vowed to defeat the terrorist networks."
    )
    assert events(tagger, text) == []


def test_fast_mode_reads_a_failure_verb_that_makes_the_frame(tagger: Tagger) -> None:
    """Without a parse, "talks ... stalled" is failed even when the verb is far from "talks"."""
    text = (
        "Peace talks between the Thai government and the rebels stalled again this week, with Malaysia as facilitator."
    )
    assert events(tagger, text) == []


def test_a_trip_announced_is_planned() -> None:
    text = "Defense Secretary Jim Mattis will travel to Jordan this week to meet with King Abdullah II on terrorism."
    assert events(get_tagger("full", str(PROJECT_DIR / "config")), text) == [("dialogue", "JO-US", "planned")]
