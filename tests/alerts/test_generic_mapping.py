"""Generic JSON webhooks: JMESPath mappings applied to bodies from real-world senders."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tocsin.alerts import generic
from tocsin.alerts.generic import DEFAULT_MAPPING, Mapping, apply
from tocsin.alerts.pagerduty import ACTIONS, SEVERITIES, SUMMARY_MAX, ParsedEvent

# A Zabbix webhook media type posting its macros; {EVENT.STATUS} is PROBLEM or OK.
ZABBIX_PROBLEM = {
    "event_id": "4321",
    "event_status": "PROBLEM",
    "event_severity": "High",
    "trigger_id": "13579",
    "trigger_name": "High CPU utilization on web-1",
    "host_name": "web-1",
    "event_tags": [{"tag": "service", "value": "checkout"}],
    "zabbix_url": "https://zabbix.example.com/tr_events.php?triggerid=13579&eventid=4321",
}
ZABBIX = Mapping.model_validate(
    {
        "summary": "trigger_name",
        # The trigger, not the event: the OK event has a new event id but the same trigger.
        "dedup_key": "join(':', [host_name, trigger_id])",
        "severity": "event_severity",
        "severity_map": {
            "Disaster": "critical",
            "High": "critical",
            "Average": "error",
            "Warning": "warning",
            "Information": "info",
        },
        "default_severity": "warning",
        "action": "event_status",
        "action_map": {"PROBLEM": "trigger", "OK": "resolve"},
        "source": "host_name",
        "details": "{tags: event_tags, event: event_id}",
        "links": "zabbix_url",
    }
)
# Datadog's webhook integration with a custom payload of $-variables.
DATADOG = {
    "id": "7016381279342460000",
    "title": "[Triggered on {host:web-1}] CPU above 90%",
    "body": "%%%\nCPU on web-1 has been above 90% for 5 minutes\n%%%",
    "alert_transition": "Triggered",
    "alert_cycle_key": "7016381279342460123",
    "priority": "P1",
    "hostname": "web-1",
    "link": "https://app.datadoghq.com/event/event?id=7016381279342460000",
    "tags": "env:prod,service:checkout",
    "org": {"id": "1", "name": "Example"},
}
# Grafana OnCall's "formatted webhook" body; state is alerting or ok.
ONCALL = {
    "alert_uid": "08d6891a-835c-e661-39fa-96b6a9e26552",
    "title": "TestAlert: The whole system is down",
    "image_url": "https://upload.wikimedia.org/wikipedia/commons/e/ee/Grumpy_Cat.jpg",
    "state": "alerting",
    "link_to_upstream_details": "https://en.wikipedia.org/wiki/Downtime",
    "message": "This alert was sent by user for demonstration purposes",
}


def run(mapping: Mapping, body: Any, name: str = "Zabbix prod") -> ParsedEvent:
    event, readable = apply(mapping, body, integration_name=name)
    assert readable, event.details
    return event


def test_zabbix_problem_then_ok_resolves_the_same_alert() -> None:
    problem = run(ZABBIX, ZABBIX_PROBLEM)
    assert problem.routing_key == ""
    assert problem.action == "trigger"
    assert problem.dedup_key == "web-1:13579"
    assert problem.summary == "High CPU utilization on web-1"
    assert problem.severity == "critical"
    assert problem.source == "web-1"
    assert problem.details == {"tags": ZABBIX_PROBLEM["event_tags"], "event": "4321"}
    url = ZABBIX_PROBLEM["zabbix_url"]
    assert problem.links == [{"href": url, "text": url}]  # no text given: the URL itself
    assert problem.group_key is None

    ok = run(ZABBIX, {**ZABBIX_PROBLEM, "event_id": "4400", "event_status": "OK"})
    assert ok.action == "resolve"
    assert ok.dedup_key == problem.dedup_key


@pytest.mark.parametrize(
    ("sent", "expected"),
    [("DISASTER", "critical"), ("average", "error"), ("Information", "info")]
    # With a map the map is the whole truth: a word it lacks gets default_severity.
    + [("Not classified", "warning"), ("error", "warning"), (None, "warning")],
)
def test_severity_map_is_case_insensitive_with_a_default(sent: Any, expected: str) -> None:
    assert run(ZABBIX, {**ZABBIX_PROBLEM, "event_severity": sent}).severity == expected


def test_action_map_without_a_match_triggers() -> None:
    # "RESOLVED" would resolve under the built-in words, but this map doesn't list it.
    for status in ("RESOLVED", "UPDATE", None, ""):
        assert run(ZABBIX, {**ZABBIX_PROBLEM, "event_status": status}).action == "trigger"
    assert run(ZABBIX, {**ZABBIX_PROBLEM, "event_status": " ok "}).action == "resolve"


def test_datadog_custom_mapping() -> None:
    mapping = Mapping.model_validate(
        {
            "summary": "title",
            "dedup_key": "alert_cycle_key",
            "severity": "priority",
            "action": "alert_transition",
            "action_map": {
                "Triggered": "trigger",
                "Re-Triggered": "trigger",
                "Recovered": "resolve",
            },
            "source": "hostname",
            "details": "{message: body, tags: tags, org: org.name}",
            "links": "[{href: link, text: 'Datadog event'}]",
        }
    )
    event = run(mapping, DATADOG, "Datadog")
    assert (event.action, event.severity, event.source) == ("trigger", "critical", "web-1")
    assert event.dedup_key == "7016381279342460123"
    assert event.summary == DATADOG["title"]
    assert event.details == {
        "message": DATADOG["body"],
        "tags": "env:prod,service:checkout",
        "org": "Example",
    }
    assert event.links == [{"href": DATADOG["link"], "text": "Datadog event"}]
    recovered = run(mapping, {**DATADOG, "alert_transition": "Recovered"}, "Datadog")
    assert (recovered.action, recovered.dedup_key) == ("resolve", event.dedup_key)


def test_datadog_body_with_the_default_mapping() -> None:
    event = run(DEFAULT_MAPPING, DATADOG, "Datadog")
    assert event.summary == DATADOG["title"]
    assert event.dedup_key == DATADOG["id"]
    assert event.severity == "critical"  # priority P1
    assert event.action == "trigger"
    assert event.source == "web-1"  # hostname
    assert event.details == DATADOG  # the whole body by default
    assert event.links == [{"href": DATADOG["link"], "text": DATADOG["link"]}]


def test_grafana_oncall_formatted_webhook() -> None:
    mapping = Mapping(
        summary="title",
        dedup_key="alert_uid",
        action="state",
        details="{message: message}",
        links="[{href: link_to_upstream_details, text: 'Upstream'}, {href: image_url}]",
    )
    firing = run(mapping, ONCALL, "Grafana OnCall")
    assert (firing.action, firing.severity) == ("trigger", "error")
    assert firing.dedup_key == ONCALL["alert_uid"]
    assert firing.source == "Grafana OnCall"  # nothing mapped: the integration's name
    assert firing.details == {"message": ONCALL["message"]}
    assert firing.links == [
        {"href": ONCALL["link_to_upstream_details"], "text": "Upstream"},
        {"href": ONCALL["image_url"], "text": ONCALL["image_url"]},
    ]
    resolved = run(mapping, {**ONCALL, "state": "ok"}, "Grafana OnCall")
    assert (resolved.action, resolved.dedup_key) == ("resolve", ONCALL["alert_uid"])


def test_a_resolve_without_dedup_key_is_returned_as_is() -> None:
    # OnCall bodies have no field the default dedup expression knows; the caller ignores it.
    event, readable = apply(DEFAULT_MAPPING, {**ONCALL, "state": "ok"}, integration_name="x")
    assert readable
    assert (event.action, event.dedup_key) == ("resolve", None)


def test_default_mapping_reads_a_cron_script_body() -> None:
    body = {
        "message": "  nightly backup failed  ",
        "alias": "backup-db1",
        "level": "WARN",
        "host": "db1",
        "links": [
            {"href": "https://ci.example.com/job/42", "text": "Job"},
            "https://wiki.example.com/backup",
            {"href": "javascript:alert(1)", "text": "evil"},
            "ftp://example.com/x",
            {"text": "no href"},
        ],
        "group": "backups",
    }
    event = run(DEFAULT_MAPPING, body, "cron")
    assert event.summary == "nightly backup failed"
    assert (event.dedup_key, event.severity, event.source) == ("backup-db1", "warning", "db1")
    # Only http(s) links survive: anything else could run script in a responder's browser.
    assert event.links == [
        {"href": "https://ci.example.com/job/42", "text": "Job"},
        {"href": "https://wiki.example.com/backup", "text": "https://wiki.example.com/backup"},
    ]
    assert event.group_key is None  # the default mapping doesn't group


def test_links_as_an_object_of_names_to_urls() -> None:
    mapping = Mapping(summary="title", links="urls")
    body = {"title": "t", "urls": {"dashboard": "https://g.example.com/d", "bad": "x:y"}}
    assert run(mapping, body).links == [{"href": "https://g.example.com/d", "text": "dashboard"}]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("CRIT", "critical"),
        ("High", "critical"),
        ("p1", "critical"),
        ("critical", "critical"),
        ("err", "error"),
        ("Major", "error"),
        ("P2", "error"),
        ("warn", "warning"),
        ("minor", "warning"),
        ("MEDIUM", "warning"),
        ("p3", "warning"),
        ("low", "info"),
        ("ok", "info"),
        ("p4", "info"),
        ("P5", "info"),
        ("info", "info"),
        ("bogus", "error"),
        (3, "error"),
        (None, "error"),
    ],
)
def test_severity_words_without_a_map(sent: Any, expected: str) -> None:
    assert run(DEFAULT_MAPPING, {"title": "t", "severity": sent}).severity == expected


def test_default_severity_applies_without_a_map_too() -> None:
    mapping = Mapping(summary="title", severity="sev", default_severity="Info")
    assert run(mapping, {"title": "t", "sev": "unheard of"}).severity == "info"
    assert run(mapping, {"title": "t", "sev": "p1"}).severity == "critical"


def test_severity_map_matches_numbers_as_strings() -> None:
    mapping = Mapping(summary="title", severity="sev", severity_map={"5": "critical", "1": "info"})
    assert run(mapping, {"title": "t", "sev": 5}).severity == "critical"
    assert run(mapping, {"title": "t", "sev": 5.0}).severity == "critical"
    assert run(mapping, {"title": "t", "sev": "1"}).severity == "info"
    assert run(mapping, {"title": "t", "sev": 2}).severity == "error"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("resolved", "resolve"),
        ("OK", "resolve"),
        ("Closed", "resolve"),
        ("recovered", "resolve"),
        ("UP", "resolve"),
        ("acknowledged", "acknowledge"),
        ("ACK", "acknowledge"),
        ("firing", "trigger"),
        ("PROBLEM", "trigger"),
        ("down", "trigger"),
        (1, "trigger"),
        (None, "trigger"),
    ],
)
def test_action_words_without_a_map(sent: Any, expected: str) -> None:
    body = {"title": "t", "id": "k", "status": sent}
    assert run(DEFAULT_MAPPING, body).action == expected


def test_default_action_expression_falls_through_to_event_action() -> None:
    body = {"title": "t", "id": "k", "event_action": "resolve"}
    assert run(DEFAULT_MAPPING, body).action == "resolve"


def test_action_map_matches_booleans_as_json_words() -> None:
    mapping = Mapping(summary="title", action="resolved", action_map={"TRUE": "resolve"})
    assert run(mapping, {"title": "t", "resolved": True}).action == "resolve"
    assert run(mapping, {"title": "t", "resolved": False}).action == "trigger"


@pytest.mark.parametrize(
    ("field", "expression", "problem"),
    [
        ("summary", "foo[", "Incomplete expression at column 4"),
        ("dedup_key", "a..b", "got: dot: Parse error at column 2"),
        ("severity", "`{bad", "Unclosed ` delimiter"),
        ("links", "'open", "Unclosed ' delimiter"),
        ("action", "to_strng(status)", "unknown function to_strng()"),
        ("group_key", "join(tags)", "join() takes 2 argument(s), got 1"),
        ("details", "(" * 3000 + "a" + ")" * 3000, "nested too deeply"),
    ],
)
def test_invalid_jmespath_names_the_field_and_the_problem(
    field: str, expression: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Mapping.model_validate({"summary": "title", field: expression})
    [error] = caught.value.errors()
    assert error["loc"] == (field,)
    assert f"{field}: invalid JMESPath expression" in error["msg"]
    assert problem in error["msg"]
    assert "\n" not in error["msg"]


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"summary": "  "}, ("summary",), "summary: a JMESPath expression is required"),
        ({}, ("summary",), "Field required"),
        ({"summary": "a", "sumary": "b"}, ("sumary",), "Extra inputs are not permitted"),
        ({"summary": "a", "severity_map": {"X": "fatal"}}, ("severity_map", "x"), "'critical'"),
        ({"summary": "a", "default_severity": "urgent"}, ("default_severity",), "'critical'"),
        ({"summary": "a", "action_map": {"ok": "close"}}, ("action_map", "ok"), "'resolve'"),
        (
            {"summary": "a", "action_map": {"ok": "resolve", "OK": "trigger"}},
            ("action_map",),
            "'ok' is mapped twice, differently",
        ),
    ],
)
def test_other_invalid_mappings(data: dict[str, Any], loc: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Mapping.model_validate(data)
    [error] = caught.value.errors()
    assert error["loc"] == loc
    assert message in error["msg"]


def test_mapping_round_trips_through_json_and_normalizes() -> None:
    mapping = Mapping.model_validate(
        {"summary": "a", "source": "", "severity_map": {" High ": "Critical"}}
    )
    assert mapping.source is None  # a blank field from a form means "not mapped"
    assert mapping.severity_map == {"high": "critical"}
    assert Mapping.model_validate_json(mapping.model_dump_json()) == mapping
    assert Mapping.model_validate(json.loads(DEFAULT_MAPPING.model_dump_json())) == DEFAULT_MAPPING


@pytest.mark.parametrize(
    ("body", "shown", "kind"),
    [
        ([{"title": "in a list"}], '[{"title":"in a list"}]', "list"),
        ("disk full", '"disk full"', "string"),
        (None, "null", "null"),
        ({"foo": 1}, '{"foo":1}', "object"),
        (42, "42", "number"),
        ({"title": "   ", "message": [], "text": {}, "name": False}, None, "object"),
    ],
)
def test_unreadable_bodies_become_a_trigger_people_can_read(
    body: Any, shown: Any, kind: str
) -> None:
    event, readable = apply(DEFAULT_MAPPING, body, integration_name="Zabbix prod")
    assert not readable
    shown = shown or json.dumps(body, separators=(",", ":"))
    assert event.summary == f"Unreadable event from Zabbix prod: {shown}"
    assert (event.action, event.dedup_key, event.routing_key) == ("trigger", None, "")
    assert event.details["unmapped"] is True
    assert event.details["reason"].endswith(f"found nothing in this {kind} body")
    assert (event.severity, event.source, event.links) == ("error", "Zabbix prod", [])


def test_unreadable_preview_is_cut_at_200_characters() -> None:
    body = {"foo": "x" * 500}
    event, readable = apply(DEFAULT_MAPPING, body, integration_name="n")
    assert not readable
    preview = json.dumps(body, separators=(",", ":"))[:200]
    assert event.summary == f"Unreadable event from n: {preview}…"


@pytest.mark.parametrize("title", [None, "", " \n", [], {}, False])
def test_empty_results_are_not_a_summary(title: Any) -> None:
    event, readable = apply(Mapping(summary="title"), {"title": title}, integration_name="n")
    assert not readable
    assert event.summary.startswith("Unreadable event from n: ")


def test_a_custom_mapping_can_read_a_list_body() -> None:
    mapping = Mapping(summary="[0].title", dedup_key="[0].id")
    event = run(mapping, [{"title": "first", "id": 7}, {"title": "second"}])
    assert (event.summary, event.dedup_key) == ("first", "7")
    assert event.details == {"details": [{"title": "first", "id": 7}, {"title": "second"}]}


def test_evaluation_errors_make_the_body_unreadable() -> None:
    mapping = Mapping(summary="title", severity="sort(tags)[0]")
    event, readable = apply(mapping, {"title": "t", "tags": [1, "a"]}, integration_name="n")
    assert not readable
    assert event.action == "trigger"
    assert event.details["reason"].startswith("severity: In function sort(), invalid type")
    # The same mapping reads a body whose tags sort.
    assert apply(mapping, {"title": "t", "tags": ["b", "a"]}, integration_name="n")[1]


def test_very_deep_bodies_never_raise() -> None:
    deep: Any = "bottom"
    for _ in range(50_000):
        deep = [deep]
    event, readable = apply(DEFAULT_MAPPING, deep, integration_name="n")
    assert not readable
    assert event.summary == "Unreadable event from n: <unprintable list>"
    event, readable = apply(Mapping(summary="to_string(@)"), deep, integration_name="n")
    assert not readable
    assert event.details["reason"].startswith("summary: maximum recursion depth exceeded")


def test_an_unexpected_failure_still_gives_an_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: Any) -> list[dict[str, str]]:
        raise RuntimeError("a bug in the mapping code")

    monkeypatch.setattr(generic, "_links", broken)
    event, readable = apply(DEFAULT_MAPPING, {"title": "t"}, integration_name="n")
    assert not readable
    assert event.summary == 'Unreadable event from n: {"title":"t"}'
    assert event.details == {"unmapped": True, "reason": "mapping failed: RuntimeError"}


def test_long_dedup_keys_are_digested_stably() -> None:
    mapping = Mapping(summary="title", dedup_key="key")
    long_key = "host-" + "x" * 300
    first = run(mapping, {"title": "t", "key": long_key}).dedup_key
    assert first == "sha256:" + hashlib.sha256(long_key.encode()).hexdigest()
    assert run(mapping, {"title": "other", "key": long_key}).dedup_key == first
    assert run(mapping, {"title": "t", "key": long_key + "y"}).dedup_key != first
    assert run(mapping, {"title": "t", "key": "k" * 255}).dedup_key == "k" * 255


def test_object_dedup_keys_ignore_key_order() -> None:
    mapping = Mapping(summary="title", dedup_key="key")
    one = run(mapping, {"title": "t", "key": {"host": "a", "check": "disk"}}).dedup_key
    two = run(mapping, {"title": "t", "key": {"check": "disk", "host": "a"}}).dedup_key
    assert one == two == '{"check":"disk","host":"a"}'


def test_non_string_results_are_converted() -> None:
    mapping = Mapping(summary="s", source="src", details="d", group_key="g")
    event = run(mapping, {"s": 42, "src": "h" * 300, "d": [1, 2], "g": {"b": 1, "a": 2}})
    assert event.summary == "42"
    assert event.source == "h" * 255
    assert event.details == {"details": [1, 2]}
    assert event.group_key == '{"a":2,"b":1}'
    event = run(mapping, {"s": {"a": [1, "é"]}, "d": None})
    assert event.summary == '{"a":[1,"é"]}'
    assert event.details == {}
    assert run(mapping, {"s": "x" * 5000}).summary == "x" * SUMMARY_MAX


def test_lone_surrogates_do_not_reach_the_database() -> None:
    body = json.loads('{"title": "bad \\ud800 text", "id": "k\\udfff"}')
    event = run(DEFAULT_MAPPING, body)
    assert event.summary == "bad ? text"
    assert event.dedup_key == "k?"
    event.summary.encode("utf-8")  # would raise on a surrogate


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["title", "summary", "id", "status", "severity", "links", "url"])
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)
# Expressions that fail on most bodies (keys() of a list, sort() of mixed types, …).
HOSTILE = Mapping(
    summary="keys(@)[0] || [0] || title",
    dedup_key="to_string(@)",
    severity="sort(values(@))[0]",
    action="*.status | [0]",
    source="length(@)",
    details="values(@)",
    links="[*] || url",
    group_key="max_by(@, &id)",
    severity_map={"true": "critical", "1": "info"},
    action_map={"0": "resolve", "null": "acknowledge"},
)
# A typical hand-written mapping, reading whatever shape it is given.
CUSTOM = Mapping(
    summary="title || summary || [0]",
    dedup_key="id || summary",
    severity="severity",
    severity_map={"": "info", "0": "critical", "true": "warning"},
    action="status || severity",
    action_map={"0": "resolve", "true": "acknowledge", "false": "trigger"},
    source="url",
    details="{title: title, status: status}",
    links="links || url",
    group_key="summary",
)
MAPPINGS = [DEFAULT_MAPPING, HOSTILE, CUSTOM, Mapping(summary="@")]


@settings(max_examples=300, deadline=None)
@given(body=JSON, mapping=st.sampled_from(MAPPINGS))
def test_any_json_body_gives_a_valid_event(body: Any, mapping: Mapping) -> None:
    event, readable = apply(mapping, body, integration_name="fuzz")
    assert isinstance(event, ParsedEvent)
    assert event.summary.strip()
    assert len(event.summary) <= SUMMARY_MAX
    assert event.action in ACTIONS
    assert event.severity in SEVERITIES
    assert event.dedup_key is None or 0 < len(event.dedup_key) <= 255
    assert 0 < len(event.source) <= 255
    assert isinstance(event.details, dict)
    assert all(link["href"].startswith(("http://", "https://")) for link in event.links)
    if not readable:
        assert event.summary.startswith("Unreadable event from fuzz: ")
        assert event.action == "trigger"
        assert event.details["unmapped"] is True
