"""The shared input checks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.validation import digits


def test_digits_reads_ascii_digits_only() -> None:
    assert digits("0") == 0
    assert digits("42") == 42
    assert digits("9" * 18) == 10**18 - 1
    for text in ("", "²", "٣", "４２", "-1", "+1", " 1", "1 ", "1_000", "0x1", "1.0", "9" * 19):
        assert digits(text) is None, text
    assert digits("9" * 19, max_digits=19) == 10**19 - 1


@given(st.text(max_size=30))
def test_digits_never_raises_and_reads_what_int_reads(text: str) -> None:
    number = digits(text)
    if number is not None:
        assert number == int(text) and str(number) == text.lstrip("0").rjust(1, "0")
