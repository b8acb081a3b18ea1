"""The blameless review rules, each with what it should and should not catch."""

from __future__ import annotations

from tocsin.postmortems.blameless import suggest, suggestion_id


def rules(sections: dict[str, str], **kw: object) -> list[tuple[str, str, str]]:
    return [(s.rule, s.section_key, s.match) for s in suggest(sections, **kw)]  # type: ignore[arg-type]


def test_human_error_in_the_causes_is_suggested_against() -> None:
    found = suggest({"contributing_factors": "Root cause: human error during the deploy."})
    assert [(s.rule, s.match) for s in found] == [("human_error", "human error")]
    assert found[0].text == "Root cause: human error during the deploy."
    assert "rarely" in found[0].why
    assert rules({"what_happened": "An operator-error in the runbook. Careless typing."}) == [
        ("human_error", "what_happened", "operator-error"),
        ("human_error", "what_happened", "Careless"),
    ]


def test_human_error_is_not_suggested_against_elsewhere_or_for_other_errors() -> None:
    assert rules({"what_went_well": "No human error at all."}) == []
    assert rules({"what_happened": "The API returned a 500 error to humans."}) == []


def test_a_person_named_as_a_cause_is_suggested_against() -> None:
    people = ["Bob Builder", "Al"]
    assert rules({"what_happened": "Bob Builder deployed the change."}, people=people) == [
        ("person", "what_happened", "Bob Builder")
    ]
    # Not in the responders section, not a short name inside words, not part of a longer word.
    assert rules({"responders": "Bob Builder (commander)"}, people=people) == []
    assert rules({"what_happened": "Alerts fired; Bob Builders Inc. called."}, people=people) == []


def test_outage_is_suggested_against_only_when_the_impact_was_partial() -> None:
    partial = {"impact": "Checkout was slow for 12% of requests.", "overview": "A checkout outage."}
    assert rules(partial) == [("outage", "overview", "outage")]
    full = {"impact": "Checkout unavailable for everyone.", "overview": "A checkout outage."}
    assert rules(full) == []
    # The incident's own customer impact counts too.
    assert rules({"overview": "An outage."}, impact_notes="Degraded search") == [
        ("outage", "overview", "outage")
    ]
    assert rules({"overview": "Outages elsewhere."}, impact_notes="100% down") == []


def test_alternate_reality_phrasing_is_suggested_against() -> None:
    body = (
        "Traffic rose. If only we had rate limits. The service should have shed load and "
        "it failed to respond. We could've known."
    )
    # One suggestion per sentence and rule ("should have … failed to" is one).
    assert [m for _, _, m in rules({"what_happened": body})] == [
        "If only",
        "should have",
        "could've",
    ]
    assert rules({"timeline": "| 10:00 | Paging should have gone to Ann | [t](/x) |"}) == [
        ("alternate_reality", "timeline", "should have")
    ]
    assert rules({"what_happened": "The cache should be warm; it has five nodes."}) == []
    assert rules({"action_items": "Failover should have a test."}) == []


def test_a_timeline_row_without_a_data_link_is_suggested_against() -> None:
    table = (
        "| Time (UTC) | Event | Data link |\n| --- | --- | --- |\n"
        "| 10:00 | Alert fired | [alert 4](/alerts/4) |\n"
        "| 10:05 | Bob acknowledged | https://grafana.example/d/1 |\n"
        "| 10:09 | Rolled back |  |\n"
    )
    found = suggest({"timeline": table})
    assert [(s.rule, s.text) for s in found] == [("timeline_link", "| 10:09 | Rolled back |  |")]
    assert suggest({"timeline": "No table yet."}) == []


def test_fixes_in_what_happened_are_suggested_against() -> None:
    body = "The disk filled. We will add alerts. This is to prevent it. The fix shipped at noon."
    found = rules({"what_happened": body})
    assert ("fix_in_description", "what_happened", "We will") in found
    assert ("fix_in_description", "what_happened", "to prevent") in found
    assert ("fix_in_description", "what_happened", "fix") in found
    # Fixes belong in the resolution and the action items; "fixed" and "prefix" are facts.
    assert rules({"action_items": "We will fix it to prevent recurrence."}) == []
    assert rules({"what_happened": "The prefix was fixed in config."}) == []


def test_a_suggestion_id_depends_on_the_sentence_only() -> None:
    one = suggest({"contributing_factors": "Human error.  Then more text."})[0]
    two = suggest({"contributing_factors": "human   ERROR. Other text now."})[0]
    assert one.id == two.id == suggestion_id("human_error", "contributing_factors", "Human error.")
    three = suggest({"contributing_factors": "Human error again."})[0]
    assert three.id != one.id
