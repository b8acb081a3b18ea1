"""Parsing a runbook's Markdown into steps: pure functions, examples and properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.runbooks.parsing import Prose, Step, parse, steps

DOC = """\
# Checklist
Some prose.

- [ ] Introduce yourself (role: incident_commander)
- [x] Assign a [scribe](https://example.com/scribe) (role:Scribe)
  ```sh
  tocsin incident roles INC-1
  ```
* [ ] Set the update cadence

After the steps.
```
- [ ] not a step: inside a fence
```
+ [ ]   Spaces before the text
"""


def test_steps_roles_links_and_details() -> None:
    found = steps(DOC)
    assert [(s.number, s.text, s.role) for s in found] == [
        (1, "Introduce yourself", "incident_commander"),
        (2, "Assign a [scribe](https://example.com/scribe)", "scribe"),
        (3, "Set the update cadence", None),
        (4, "Spaces before the text", None),
    ]
    assert found[1].detail == "```sh\ntocsin incident roles INC-1\n```"


def test_prose_keeps_what_is_not_a_step() -> None:
    blocks = parse(DOC)
    assert isinstance(blocks[0], Prose) and blocks[0].text.startswith("# Checklist")
    fenced = [b for b in blocks if isinstance(b, Prose) and "not a step" in b.text]
    assert fenced and "```" in fenced[0].text


def test_not_steps() -> None:
    assert steps("- [ ]") == []  # no text
    assert steps("-[ ] squashed") == []
    assert steps("  - [ ] indented alone") == []  # detail of nothing: prose
    assert steps("1. [ ] ordered") == []
    assert steps("") == []


def test_an_empty_role_marker_is_kept_as_written_for_the_service_to_refuse() -> None:
    assert steps("- [ ] Do it (role: )")[0].role == ""


def test_windows_line_endings() -> None:
    assert [s.text for s in steps("- [ ] one\r\n- [ ] two\r\n")] == ["one", "two"]


step_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() == t and "(role:" not in t.lower())
role = st.none() | st.sampled_from(["scribe", "incident_commander", "sme"])


@given(st.lists(st.tuples(step_text, role), max_size=12))
def test_a_list_of_steps_reads_back_as_written(items: list[tuple[str, str | None]]) -> None:
    body = "\n".join(f"- [ ] {t}" + (f" (role: {r})" if r else "") for t, r in items)
    found = steps(body)
    assert [(s.text, s.role) for s in found] == items
    assert [s.number for s in found] == list(range(1, len(items) + 1))


@given(st.text(max_size=400))
def test_any_text_parses_and_loses_no_line(body: str) -> None:
    blocks = parse(body)
    numbers = [b.number for b in blocks if isinstance(b, Step)]
    assert numbers == list(range(1, len(numbers) + 1))
    # Every non-blank line is in some block (steps keep their text, prose its lines).
    kept = "\n".join(b.text if isinstance(b, Prose) else f"{b.text}\n{b.detail}" for b in blocks)
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        core = line.strip()
        if core and not core.startswith(("- [", "* [", "+ [")) and "(role:" not in core.lower():
            assert core in kept
