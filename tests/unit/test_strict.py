"""The strict readings of outside input: JSON bodies, integers in text, the shape of ids."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from media_core.strict import (
    MAX_ID_LENGTH,
    MalformedJson,
    ascii_int,
    decode_json,
    has_surrogate,
    plausible_id,
    storable,
)
from tests.strategies import hostile_ids, hostile_integers, hostile_text

# --- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"title": "\\ud800"}', id="lone-high-surrogate-escape"),
        pytest.param(b'{"fileName": "a\\udfffb.mp4"}', id="lone-low-surrogate-escape"),
        pytest.param(b'{"\\ud800": 1}', id="surrogate-in-a-key"),
        pytest.param(b'{"a": [{"b": ["\\uDC00"]}]}', id="deep-upper-case-escape"),
        pytest.param(b'{"a": "\\ude00\\ud83d"}', id="pair-in-the-wrong-order"),
    ],
)
def test_a_lone_surrogate_escape_is_malformed(body: bytes) -> None:
    """Finding 1: a lone surrogate in any string, keys included, is refused, not decoded."""
    with pytest.raises(MalformedJson, match="surrogate"):
        decode_json(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"fileName": "clip.mp4"}'.encode("utf-16"), id="utf-16-with-bom"),
        pytest.param('{"fileName": "clip.mp4"}'.encode("utf-16-le"), id="utf-16-le"),
        pytest.param('{"fileName": "clip.mp4"}'.encode("utf-32"), id="utf-32"),
        pytest.param(b'{"t": "\xed\xa0\x80"}', id="cesu-8-surrogate-bytes"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf-8-bom"),
        pytest.param(b'{"t": "caf\xe9"}', id="latin-1"),
    ],
)
def test_bodies_that_are_not_utf8_are_malformed(body: bytes) -> None:
    """Finding 5: only UTF-8 is JSON between systems (RFC 8259); nothing is guessed."""
    with pytest.raises(MalformedJson):
        decode_json(body)


@pytest.mark.parametrize("body", [b"NaN", b'{"d": Infinity}', b"[-Infinity]", b"[" * 50_000])
def test_non_json_numbers_and_deep_nesting_are_malformed(body: bytes) -> None:
    """``NaN``/``Infinity`` are not JSON, and nesting that exhausts the stack is refused."""
    with pytest.raises(MalformedJson):
        decode_json(body)


def test_valid_pairs_and_escaped_backslashes_decode() -> None:
    """A surrogate pair is one astral character; ``\\\\ud800`` is text, not an escape."""
    assert decode_json(b'{"e": "\\ud83d\\ude00"}') == {"e": "\U0001f600"}
    assert decode_json(b'{"e": "\\\\ud800"}') == {"e": "\\ud800"}
    assert decode_json('{"é": "👩\u200d💻"}'.encode()) == {"é": "👩\u200d💻"}


@given(body=st.binary(max_size=200))
@example(body=b'"\\ud800"')
@example(body=b"\xff\xfe{\x00}\x00")
def test_decode_json_raises_only_malformed_json(body: bytes) -> None:
    """Any bytes: a value or MalformedJson, never another exception."""
    with contextlib.suppress(MalformedJson):
        decode_json(body)


@given(value=st.recursive(st.none() | st.booleans() | st.integers() | hostile_text,
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(hostile_text, inner, max_size=3),
                          max_leaves=8))  # fmt: skip
def test_what_decodes_holds_no_surrogate_and_round_trips(value: object) -> None:
    """JSON built from hostile text decodes iff it holds no surrogate, and then to itself."""
    body = json.dumps(value).encode()  # ensure_ascii: a surrogate travels as an escape
    holds = has_surrogate(json.dumps(value, ensure_ascii=False, default=str))
    if holds:
        with pytest.raises(MalformedJson):
            decode_json(body)
    else:
        assert decode_json(body) == value


# --- integers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["²", "\uff11\uff12", "٣", "1²", "Ⅻ", "", " 1", "1 ", "-1", "+1", "1_0", "0x1", "9" * 19],
)
def test_ascii_int_refuses_everything_but_ascii_digits(text: str) -> None:
    """Finding 3: ``str.isdigit`` takes ``²``, ``int`` takes full-width digits; this neither."""
    assert ascii_int(text) is None


@given(text=hostile_integers)
def test_hostile_integers_are_refused(text: str) -> None:
    """Every strategy value that is not 1 to 18 ASCII digits is None."""
    assert ascii_int(text) is None


@given(number=st.integers(min_value=0, max_value=10**18 - 1))
def test_ascii_int_reads_every_plain_number(number: int) -> None:
    """Plain decimal digits read back as the number (leading zeros too)."""
    assert ascii_int(str(number)) == number
    assert ascii_int("0" + str(number)) == (number if len(str(number)) < 18 else None)


def test_ascii_int_bounds_the_length() -> None:
    """``max_digits`` is the longest accepted."""
    assert ascii_int("123", max_digits=3) == 123
    assert ascii_int("1234", max_digits=3) is None


# --- ids and storable text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "01jd5x0c2hq9m4x7v3k8n6p1ra",
        "6b9e68b07dfee8cc2d116e4c51d6a957",
        "a_b-C9",
        "x" * MAX_ID_LENGTH,
    ],
)
def test_real_ids_are_plausible(value: str) -> None:
    """ULIDs, Cloudflare uids, Mux-style ids."""
    assert plausible_id(value)


@pytest.mark.parametrize(
    "value", ["", "a\x00", "a/b", "a b", "a.b", "é", "x" * (MAX_ID_LENGTH + 1), "a\n", "%00"]
)
def test_other_strings_are_not_ids(value: str) -> None:
    """Finding 4: NUL, separators, non-ASCII, over-long: no id has that shape."""
    assert not plausible_id(value)


@given(value=hostile_ids)
def test_plausible_ids_are_storable_ascii(value: str) -> None:
    """Whatever passes is ASCII, storable and bounded."""
    if plausible_id(value):
        assert value.isascii()
        assert storable(value)
        assert len(value) <= MAX_ID_LENGTH


def test_storable_refuses_nul_and_surrogates() -> None:
    """PostgreSQL refuses NUL in text; no UTF-8 store holds a surrogate."""
    assert storable("ok é 👩")
    assert not storable("a\x00b")
    assert not storable("a\ud800")
