"""The HMAC-SHA256 ``"<timestamp>.<raw body>"`` signature scheme shared by every webhook route."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from adapters.webhooks import SignatureScheme, hmac_sha256_hex
from adapters.webhooks.signing import MAX_HEADER_LENGTH
from media_core.errors import InvalidSignature, StaleWebhook

MUX_LIKE = SignatureScheme(header="Mux-Signature", timestamp_key="t", signature_key="v1")
CLOUDFLARE_LIKE = SignatureScheme(
    header="Webhook-Signature", timestamp_key="time", signature_key="sig1"
)
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = b'{"type":"video.asset.ready"}'
SECRET = "whsec-current"


def verify(
    headers: dict[str, str],
    body: bytes = BODY,
    *,
    now: datetime = NOW,
    secrets: tuple[str | bytes, ...] = (SECRET,),
    scheme: SignatureScheme = MUX_LIKE,
) -> int:
    """Verify with a 300-second tolerance."""
    return scheme.verify(headers, body, now, secrets=secrets, tolerance_seconds=300)


def test_hmac_is_over_timestamp_dot_body() -> None:
    """The signed message is ``"<timestamp>.<body>"``, hex-encoded; str and bytes keys agree."""
    want = hmac.new(b"k", b"123." + BODY, hashlib.sha256).hexdigest()
    assert hmac_sha256_hex("k", 123, BODY) == want
    assert hmac_sha256_hex(b"k", 123, BODY) == want


@pytest.mark.parametrize("scheme", [MUX_LIKE, CLOUDFLARE_LIKE], ids=["t-v1", "time-sig1"])
def test_valid_signature_returns_its_timestamp(scheme: SignatureScheme) -> None:
    """A header made by ``sign`` verifies under the same scheme and secret."""
    header = {scheme.header: scheme.sign(SECRET, TS, BODY)}
    assert verify(header, scheme=scheme) == TS


def test_header_name_is_case_insensitive() -> None:
    """HTTP header names are case-insensitive, even in a plain dict."""
    assert verify({"mux-signature": MUX_LIKE.sign(SECRET, TS, BODY)}) == TS


def test_missing_header_is_invalid_signature() -> None:
    """No header at all: InvalidSignature naming the header."""
    with pytest.raises(InvalidSignature, match="missing"):
        verify({"Other": "x"})


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "t=123",
        "v1=abc",
        f"t=abc,v1={'0' * 64}",
        f"t=-5,v1={'0' * 64}",
        f"t=1234567890123,v1={'0' * 64}",
        f"t={TS},v1",
    ],
)
def test_malformed_header_is_invalid_signature(value: str) -> None:
    """Headers without a Unix timestamp and a signature, or with bare parts, are refused."""
    with pytest.raises(InvalidSignature):
        verify({"Mux-Signature": value})


def test_oversized_header_is_refused_before_parsing() -> None:
    """A header longer than the limit is refused outright."""
    value = MUX_LIKE.sign(SECRET, TS, BODY) + ",v1=" + "a" * MAX_HEADER_LENGTH
    with pytest.raises(InvalidSignature, match="too long"):
        verify({"Mux-Signature": value})


def test_wrong_secret_is_invalid_signature() -> None:
    """A signature made with another secret does not match."""
    with pytest.raises(InvalidSignature, match="does not match"):
        verify({"Mux-Signature": MUX_LIKE.sign("attacker", TS, BODY)})


@pytest.mark.parametrize("body", [BODY + b" ", BODY.replace(b"ready", b"errored"), b""])
def test_tampered_body_is_invalid_signature(body: bytes) -> None:
    """Any change to the raw body breaks the signature."""
    with pytest.raises(InvalidSignature):
        verify({"Mux-Signature": MUX_LIKE.sign(SECRET, TS, BODY)}, body)


def test_tampered_timestamp_is_invalid_signature() -> None:
    """The timestamp is signed too: moving it breaks the signature."""
    signature = hmac_sha256_hex(SECRET, TS - 1000, BODY)
    with pytest.raises(InvalidSignature):
        verify({"Mux-Signature": f"t={TS},v1={signature}"})


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_timestamp_outside_tolerance_is_stale(offset: int) -> None:
    """An authentic delivery signed more than the tolerance ago, or ahead, is stale."""
    header = {"Mux-Signature": MUX_LIKE.sign(SECRET, TS + offset, BODY)}
    with pytest.raises(StaleWebhook):
        verify(header)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_at_the_tolerance_edge_is_accepted(offset: int) -> None:
    """Exactly the tolerance, either way, is still accepted."""
    assert verify({"Mux-Signature": MUX_LIKE.sign(SECRET, TS + offset, BODY)}) == TS + offset


def test_bad_signature_is_reported_before_staleness() -> None:
    """A forged old delivery is InvalidSignature, so staleness never leaks for forgeries."""
    with pytest.raises(InvalidSignature):
        verify({"Mux-Signature": MUX_LIKE.sign("attacker", TS - 10_000, BODY)})


@pytest.mark.parametrize("signer", ["whsec-old", SECRET])
def test_any_of_several_secrets_verifies_for_rotation(signer: str) -> None:
    """During a rotation both the old and the new secret are accepted."""
    header = {"Mux-Signature": MUX_LIKE.sign(signer, TS, BODY)}
    assert verify(header, secrets=(SECRET, b"whsec-old")) == TS


def test_no_secrets_accepts_nothing() -> None:
    """A verifier configured with no secret refuses every delivery."""
    with pytest.raises(InvalidSignature):
        verify({"Mux-Signature": MUX_LIKE.sign(SECRET, TS, BODY)}, secrets=())


@pytest.mark.parametrize("position", [0, 1, 2])
def test_any_of_several_v1_values_may_match(position: int) -> None:
    """A sender rotating secrets sends several v1 values; one match is enough, in any place."""
    good = hmac_sha256_hex(SECRET, TS, BODY)
    values = ["0" * 64, "f" * 64]
    values.insert(position, good.upper())
    header = ",".join([f"t={TS}", *(f"v1={v}" for v in values), "v0=ignored"])
    assert verify({"Mux-Signature": header}) == TS


def test_cloudflare_keys_are_not_accepted_by_the_mux_scheme() -> None:
    """Key names are part of the scheme: ``time=,sig1=`` does not satisfy ``t=,v1=``."""
    with pytest.raises(InvalidSignature):
        verify({"Mux-Signature": CLOUDFLARE_LIKE.sign(SECRET, TS, BODY)})


@given(
    body=st.binary(max_size=200),
    secret=st.text(min_size=1, max_size=20),
    skew=st.integers(-300, 300),
)
def test_sign_then_verify_round_trips(body: bytes, secret: str, skew: int) -> None:
    """Whatever the body and secret, a fresh signature verifies and returns its timestamp."""
    header = {"Mux-Signature": MUX_LIKE.sign(secret, TS + skew, body)}
    assert verify(header, body, secrets=(secret,)) == TS + skew


def test_tolerance_uses_the_given_time() -> None:
    """The clock is an argument: the same delivery is fresh now and stale an hour later."""
    header = {"Mux-Signature": MUX_LIKE.sign(SECRET, TS, BODY)}
    assert verify(header) == TS
    with pytest.raises(StaleWebhook):
        verify(header, now=NOW + timedelta(hours=1))


# Finding 3: the timestamp is ASCII digits only.


@pytest.mark.parametrize(
    "timestamp",
    ["²", "\uff11\uff17\uff17\uff17", "\u0661\u0667\u0667", str(TS)[:-1] + "²", "1e9", " "],
)
@pytest.mark.parametrize("scheme", [MUX_LIKE, CLOUDFLARE_LIKE], ids=["t-v1", "time-sig1"])
def test_a_timestamp_of_other_digits_is_invalid_signature(
    scheme: SignatureScheme, timestamp: str
) -> None:
    """``t=²`` (which ``isdigit`` takes and ``int`` refuses) and full-width digits (which both
    take) are a malformed header: 401, no secret needed to find out."""
    signature = hmac_sha256_hex(SECRET, TS, BODY)
    value = f"{scheme.timestamp_key}={timestamp},{scheme.signature_key}={signature}"
    with pytest.raises(InvalidSignature, match=r"Unix time|not ASCII"):
        verify({scheme.header: value}, scheme=scheme)


def test_a_header_that_is_not_ascii_is_invalid_signature() -> None:
    """Header bytes that are not ASCII (decoded with surrogate escapes) never reach HMAC."""
    with pytest.raises(InvalidSignature, match="ASCII"):
        verify({"Mux-Signature": f"t={TS},v1=\udcff"})


# Finding 8: repeated headers are one list; the verdict does not depend on their order.


def _good() -> str:
    return MUX_LIKE.sign(SECRET, TS, BODY)


def _bad(timestamp: int = TS) -> str:
    return MUX_LIKE.sign("not-the-secret", timestamp, BODY)


def _verdict(values: list[str]) -> str:
    headers: CIMultiDict[str] = CIMultiDict()
    for value in values:
        headers.add("Mux-Signature", value)
    try:
        verify(headers)  # type: ignore[arg-type]  # a multidict, as aiohttp hands it over
    except InvalidSignature as exc:
        return f"refused: {exc.detail}"
    return "accepted"


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        pytest.param([_good(), _bad()], "accepted", id="good-then-bad"),
        pytest.param([_bad(), _good()], "accepted", id="bad-then-good"),
        pytest.param([f"{_bad()},{_good()}"], "accepted", id="comma-joined"),
        pytest.param([_bad(), _bad()], "refused", id="both-bad"),
        pytest.param([_good(), _bad(TS - 1)], "refused", id="two-timestamps"),
        pytest.param([_bad(TS - 1), _good()], "refused", id="two-timestamps-reversed"),
    ],
)
def test_repeated_signature_headers_are_one_list(values: list[str], verdict: str) -> None:
    """Every header counts: any signature may verify, and all timestamps must agree."""
    assert _verdict(values).startswith(verdict)


@given(
    parts=st.lists(
        st.sampled_from(["good", "bad", "bad-other-time", "empty", "junk"]), min_size=1, max_size=5
    ),
    data=st.data(),
)
def test_the_verdict_is_the_same_for_every_order_and_for_the_joined_form(
    parts: list[str], data: st.DataObject
) -> None:
    """Any permutation of the headers, and their comma-joined form, give one verdict."""
    values = {
        "good": _good(),
        "bad": _bad(),
        "bad-other-time": _bad(TS + 7),
        "empty": "",
        "junk": "v1=zz",
    }
    headers = [values[part] for part in parts]
    verdict = _verdict(headers)
    assert _verdict(data.draw(st.permutations(headers))) == verdict
    assert _verdict([",".join(headers)]) == verdict
    if "good" in parts and "bad-other-time" not in parts:
        assert verdict == "accepted"
