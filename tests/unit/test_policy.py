"""Upload policy: the MIME allowlist, the size limit, metadata sanitization and its limits."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from media_core.errors import (
    FileTooLarge,
    InvalidFileName,
    InvalidFileSize,
    InvalidInput,
    MetadataTooLong,
    UnsupportedMediaType,
)
from media_core.model import Visibility
from media_core.policy import (
    UploadPolicy,
    check_file,
    extension_of,
    normalize_mime_type,
    sanitize_metadata,
    sanitize_text,
)

POLICY = UploadPolicy(max_file_size=1000)

# What sanitize_text must never return: C0/C1 controls (bar the newline of multi-line text),
# zero-width characters, word joiner, BOM, soft hyphen, bidi embeddings, overrides and isolates.
# ZWJ and ZWNJ are allowed only where a script or an emoji sequence needs them (checked apart).
FORBIDDEN = frozenset(
    [chr(c) for c in range(0x20) if c != 0x0A]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u200b", "\u200e", "\u200f", "\u00ad", "\u2060", "\ufeff", "\u061c"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


# MIME types and extensions.


@pytest.mark.parametrize(
    ("file_name", "mime_type", "expected"),
    [
        ("clip.mp4", "video/mp4", "video/mp4"),
        ("clip.MP4", "VIDEO/MP4", "video/mp4"),
        ("clip.m4v", "video/mp4; codecs=avc1", "video/mp4"),
        ("holiday.final.MoV", "video/quicktime", "video/quicktime"),
        ("a.webm", " video/webm ", "video/webm"),
        ("dir/sub/a.mkv", "video/x-matroska", "video/x-matroska"),
    ],
)
def test_allowed_type_and_extension_pass_and_type_is_normalized(
    file_name: str, mime_type: str, expected: str
) -> None:
    """Case, parameters and blanks in the MIME type do not matter; the extension's case neither."""
    assert check_file(POLICY, file_name, 10, mime_type) == expected


@pytest.mark.parametrize(
    ("file_name", "mime_type", "field"),
    [
        ("a.mp4", "image/png", "/mimeType"),
        ("a.mp4", "video", "/mimeType"),
        ("a.mp4", "", "/mimeType"),
        ("a.webm", "video/mp4", "/fileName"),
        ("a.mp4.exe", "video/mp4", "/fileName"),
        ("clip", "video/mp4", "/fileName"),
        (".mp4", "video/mp4", "/fileName"),
        ("clip.", "video/mp4", "/fileName"),
    ],
)
def test_disallowed_type_or_mismatched_extension_is_unsupported(
    file_name: str, mime_type: str, field: str
) -> None:
    """A type off the allowlist, or an extension the type does not carry, names the field."""
    with pytest.raises(UnsupportedMediaType) as caught:
        check_file(POLICY, file_name, 10, mime_type)
    assert caught.value.field == field


def test_custom_allowlist_replaces_the_default() -> None:
    """A host may allow only what it wants."""
    policy = UploadPolicy(allowed_types={"video/webm": frozenset({".webm"})})
    assert check_file(policy, "a.webm", 1, "video/webm") == "video/webm"
    with pytest.raises(UnsupportedMediaType):
        check_file(policy, "a.mp4", 1, "video/mp4")


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("a.MP4", ".mp4"),
        ("a.b.c", ".c"),
        ("noext", ""),
        (".hidden", ""),
        ("..", ""),
        ("C:\\videos\\x.mov", ".mov"),
        ("dir.d/file", ""),
    ],
)
def test_extension_of(name: str, extension: str) -> None:
    """The extension is the lower-cased last suffix of the base name, or empty."""
    assert extension_of(name) == extension


def test_normalize_mime_type_drops_parameters_and_case() -> None:
    """``VIDEO/MP4 ; codecs=x`` is ``video/mp4``."""
    assert normalize_mime_type("VIDEO/MP4 ; codecs=x") == "video/mp4"


# Size.


@pytest.mark.parametrize("size", [0, -1, -(2**40)])
def test_zero_or_negative_size_is_invalid(size: int) -> None:
    """A file must have at least one byte."""
    with pytest.raises(InvalidFileSize) as caught:
        check_file(POLICY, "a.mp4", size, "video/mp4")
    assert caught.value.field == "/fileSize"


@pytest.mark.parametrize("size", [1, 1000])
def test_sizes_up_to_the_limit_pass(size: int) -> None:
    """One byte and exactly the limit are accepted."""
    assert check_file(POLICY, "a.mp4", size, "video/mp4") == "video/mp4"


@pytest.mark.parametrize("size", [1001, 10**12])
def test_size_over_the_limit_is_too_large(size: int) -> None:
    """One byte over the limit is refused."""
    with pytest.raises(FileTooLarge) as caught:
        check_file(POLICY, "a.mp4", size, "video/mp4")
    assert caught.value.field == "/fileSize"


# File name.


@pytest.mark.parametrize("name", ["", "   ", "\u202e\u200b", "\u2060\ufeff"])
def test_file_name_empty_after_sanitizing_is_refused(name: str) -> None:
    """A name made only of blanks or invisible characters is empty."""
    with pytest.raises(InvalidInput) as caught:
        check_file(POLICY, name, 10, "video/mp4")
    assert caught.value.field == "/fileName"


def test_file_name_length_is_counted_after_sanitizing() -> None:
    """The name limit applies to the cleaned name: padding does not count, real length does."""
    stem = "a" * (POLICY.max_file_name_length - 4)
    assert check_file(POLICY, f"  {stem}.mp4\u200b  ", 10, "video/mp4") == "video/mp4"
    with pytest.raises(InvalidInput) as caught:
        check_file(POLICY, f"a{stem}.mp4", 10, "video/mp4")
    assert caught.value.field == "/fileName"


def test_bidi_override_cannot_disguise_the_extension() -> None:
    """``clip\u202e4pm.exe`` is checked as what it is after cleaning (``.exe``), not as shown."""
    with pytest.raises(UnsupportedMediaType):
        check_file(POLICY, "clip\u202e4pm.exe", 10, "video/mp4")


# Text sanitization.


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello   world \t ", "hello world"),
        ("a\x00b\x07c\x1bd\x7fe\x85f", "abcdef"),
        ("safe\u202egpj.exe", "safegpj.exe"),
        ("\u2066iso\u2069late", "isolate"),
        ("zero\u200bwidth\u200d", "zerowidth"),
        ("line\none\r\ntwo\rthree", "line one two three"),
        ("e\u0301", "\u00e9"),
        ("a <b> c", "a <b> c"),
    ],
)
def test_sanitize_text_single_line(raw: str, clean: str) -> None:
    """Controls, bidi overrides and zero-width characters go; blanks fold; NFC; markup stays."""
    assert sanitize_text(raw) == clean


def test_sanitize_text_multiline_keeps_lines_and_folds_within_them() -> None:
    """A description keeps its line breaks (CRLF and CR become LF) with each line tidied."""
    raw = "  first   line  \r\n\tsecond\u202e line\r\rthird \n"
    assert sanitize_text(raw, multiline=True) == "first line\nsecond line\n\nthird"


_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            [
                *sorted(FORBIDDEN),
                *("\u0301", "\u0327", " ", "\t", "\r", "\n", "\u2028", "\u200c", "\u200d"),
                *("\ufe0f", "👩", "💻", "\U0001f3f4", "\U000e0067", "\U000e007f"),
            ]
        ),
    ),
    max_size=40,
)


@given(raw=_text, multiline=st.booleans())
@example(raw="e\u200b\u0301", multiline=False)
def test_sanitize_text_is_idempotent_and_returns_nfc(raw: str, multiline: bool) -> None:
    """Cleaning clean text changes nothing, and the result is NFC."""
    once = sanitize_text(raw, multiline=multiline)
    assert sanitize_text(once, multiline=multiline) == once
    assert unicodedata.is_normalized("NFC", once)


@given(raw=_text, multiline=st.booleans())
def test_sanitize_text_never_returns_controls_or_bidi_overrides(raw: str, multiline: bool) -> None:
    """No control, zero-width or bidi character survives; newlines only in multi-line text."""
    clean = sanitize_text(raw, multiline=multiline)
    assert not FORBIDDEN.intersection(clean)
    for index, char in enumerate(clean):
        if char == "\u200d":  # kept only inside an emoji sequence
            assert unicodedata.category(clean[index + 1]) == "So", clean
        if char == "\u200c":  # kept only between letters
            assert unicodedata.category(clean[index - 1])[0] in "LM", clean
            assert unicodedata.category(clean[index + 1])[0] in "LM", clean
    assert multiline or "\n" not in clean
    assert clean == clean.strip()
    assert "  " not in clean


# Metadata.


def test_sanitize_metadata_cleans_every_field() -> None:
    """Title and extras are single-line, the description multi-line; visibility is kept."""
    meta = sanitize_metadata(
        POLICY,
        title="  My\tvideo\u202e ",
        description="Line 1\r\n\r\nLine\x00 2",
        visibility=Visibility.UNLISTED,
        extra={" course ": " intro\n101 "},
    )
    assert meta.title == "My video"
    assert meta.description == "Line 1\n\nLine 2"
    assert meta.visibility is Visibility.UNLISTED
    assert meta.extra == {"course": "intro 101"}


def test_title_limit_is_checked_after_sanitizing() -> None:
    """A title at the limit once cleaned passes; one character more is too long."""
    limit = POLICY.max_title_length
    ok = sanitize_metadata(
        POLICY, title=" " + "t" * limit + "\u200b ", description="", visibility=Visibility.PUBLIC
    )
    assert len(ok.title) == limit
    with pytest.raises(MetadataTooLong) as caught:
        sanitize_metadata(
            POLICY, title="t" * (limit + 1), description="", visibility=Visibility.PUBLIC
        )
    assert caught.value.field == "/metadata/title"


def test_description_limit_is_checked_after_sanitizing() -> None:
    """The description limit counts cleaned characters, newlines included."""
    policy = UploadPolicy(max_description_length=5)
    assert sanitize_metadata(
        policy, title="", description="a\r\nb\r\nc  ", visibility=Visibility.PUBLIC
    ).description == ("a\nb\nc")
    with pytest.raises(MetadataTooLong) as caught:
        sanitize_metadata(policy, title="", description="abcdef", visibility=Visibility.PUBLIC)
    assert caught.value.field == "/metadata/description"


def test_extra_fields_count_is_limited() -> None:
    """More extra fields than allowed is refused; exactly the limit passes."""
    policy = UploadPolicy(max_extra_fields=2)
    two = {"a": "1", "b": "2"}
    assert (
        sanitize_metadata(
            policy, title="", description="", visibility=Visibility.PUBLIC, extra=two
        ).extra
        == two
    )
    with pytest.raises(MetadataTooLong) as caught:
        sanitize_metadata(
            policy,
            title="",
            description="",
            visibility=Visibility.PUBLIC,
            extra={**two, "c": "3"},
        )
    assert caught.value.field == "/metadata/extra"


def test_extra_value_length_is_limited_after_sanitizing() -> None:
    """An extra value over its limit once cleaned is too long, and names its key."""
    policy = UploadPolicy(max_extra_value_length=3)
    assert sanitize_metadata(
        policy, title="", description="", visibility=Visibility.PUBLIC, extra={"k": " abc "}
    ).extra == {"k": "abc"}
    with pytest.raises(MetadataTooLong) as caught:
        sanitize_metadata(
            policy, title="", description="", visibility=Visibility.PUBLIC, extra={"k": "abcd"}
        )
    assert caught.value.field == "/metadata/extra/k"


@pytest.mark.parametrize("key", ["", "  ", "\u200b", "k" * 65])
def test_extra_keys_must_be_1_to_64_characters(key: str) -> None:
    """Empty (after cleaning) or over-long extra keys are refused."""
    with pytest.raises(InvalidInput) as caught:
        sanitize_metadata(
            POLICY, title="", description="", visibility=Visibility.PUBLIC, extra={key: "v"}
        )
    assert caught.value.field is not None
    assert caught.value.field.startswith("/metadata/extra/")


def test_no_extra_is_an_empty_mapping() -> None:
    """Omitted extras are stored as an empty mapping."""
    meta = sanitize_metadata(POLICY, title="t", description="", visibility=Visibility.PRIVATE)
    assert meta.extra == {}


# Finding 6: invisible characters by Unicode category.


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("a\u2060b", "ab", id="word-joiner"),
        pytest.param("\ufeffa\ufeffb", "ab", id="bom"),
        pytest.param("soft\u00adhyphen", "softhyphen", id="soft-hyphen"),
        pytest.param("a\u061cb\u180ec", "abc", id="arabic-letter-mark-and-mongolian-separator"),
        pytest.param("a\U000e0041b", "ab", id="tag-character-outside-a-flag"),
        pytest.param("x\u200dy", "xy", id="zwj-between-letters"),
        pytest.param("a\ufdd0b\uffff", "ab", id="noncharacters"),
        pytest.param("a\u00a0\u3000\u2003b", "a b", id="space-separators-fold"),
        pytest.param("one\u2028two", "one two", id="line-separator"),
    ],
)
def test_format_characters_and_noncharacters_are_stripped(raw: str, clean: str) -> None:
    """Every Cf character goes (word joiner and BOM included), bar the ones a script needs."""
    assert sanitize_text(raw) == clean


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("👩\u200d💻", id="zwj-emoji-sequence"),
        pytest.param("❤\ufe0f\u200d🔥", id="zwj-after-variation-selector"),
        pytest.param("👋🏽\u200d🦰", id="zwj-after-skin-tone"),
        pytest.param("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", id="zwnj-persian"),
        pytest.param("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", id="flag"),
    ],
)
def test_joiners_and_tags_that_a_script_or_emoji_needs_are_kept(text: str) -> None:
    """ZWJ inside emoji sequences, ZWNJ between letters and a subdivision flag's tags stay."""
    assert sanitize_text(text) == text


def test_a_lone_surrogate_is_refused_naming_the_field() -> None:
    """Finding 1 (in the core): Cs cannot be stored anywhere, so it is refused, not stripped."""
    with pytest.raises(InvalidInput) as caught:
        sanitize_metadata(POLICY, title="a\ud800", description="", visibility=Visibility.PUBLIC)
    assert caught.value.field == "/metadata/title"
    with pytest.raises(InvalidInput) as caught:
        check_file(POLICY, "a\udfffb.mp4", 10, "video/mp4")
    assert caught.value.field == "/fileName"


# Finding 7: the file-name rule.


@pytest.mark.parametrize(
    "name",
    [
        "a.exe.mp4",
        "movie.php.mp4",
        "x.html.mp4",
        "x.svg.mp4",
        "x.EXE.mp4",
        "x.js .mp4",
        "holiday.final.bat.mov",
        ".htm.mp4",
        "clip\u202e4pm.exe.mp4",
    ],
)
def test_an_inner_executable_or_markup_extension_is_refused(name: str) -> None:
    """``a.exe.mp4`` and friends: invalid-file-name, whatever the case or padding."""
    mime = "video/quicktime" if name.endswith(".mov") else "video/mp4"
    with pytest.raises(InvalidFileName) as caught:
        check_file(POLICY, name, 10, mime)
    assert caught.value.field == "/fileName"
    assert caught.value.code == "invalid-file-name"


@pytest.mark.parametrize("name", ["a\x00.mp4", "a\x00", "clip\n.mp4", "a\tb.mp4", "a\x85.mp4"])
def test_a_control_character_in_a_file_name_is_refused_not_stripped(name: str) -> None:
    """NUL (and every other Cc) is refused with invalid-file-name instead of silently dropped."""
    with pytest.raises(InvalidFileName, match="control"):
        check_file(POLICY, name, 10, "video/mp4")


@pytest.mark.parametrize("name", ["holiday.final.mp4", "v1.2.mp4", "my.show.s01e02.mkv"])
def test_harmless_inner_dots_pass(name: str) -> None:
    """Dots that name no dangerous type are fine."""
    mime = "video/x-matroska" if name.endswith(".mkv") else "video/mp4"
    assert check_file(POLICY, name, 10, mime) == mime
