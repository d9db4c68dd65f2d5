"""TokenCodec: what it signs, and every token it must refuse (docs/architecture.md, "Tokens")."""

from __future__ import annotations

import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from authgate.core.errors import AuthError, Reason
from authgate.core.tokens import MAX_TOKEN_LENGTH, TokenCodec, TokenType

from unit_fixtures import (
    ALGORITHMS,
    ISSUER,
    NOW,
    Clock,
    b64url,
    b64url_decode,
    b64url_json,
    good_claims,
    header_for,
    key_for,
    key_set_for,
    key_set_of,
    make_codec,
    other_key_for,
    sign,
    sign_by_hand,
)

# The documented claims, plus `ver`: the user's token version, bumped by a logout everywhere.
EXPECTED_CLAIMS = {"iss", "sub", "user_id", "token_type", "jti", "iat", "exp", "ver"}


def assert_refused(codec: TokenCodec, token: str, expected: TokenType = TokenType.ACCESS) -> None:
    with pytest.raises(AuthError) as caught:
        codec.decode(token, expected)
    assert caught.value.reason is Reason.TOKEN_NOT_VALID


def unverified_claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


# What we issue.


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("token_type", list(TokenType))
def test_issued_token_decodes_to_its_user_and_type(algorithm: str, token_type: TokenType) -> None:
    codec = make_codec(algorithm)

    claims = codec.decode(codec.encode("01USER", token_type), token_type)

    assert claims.user_id == "01USER"
    assert claims.token_type is token_type
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + codec.lifetimes[token_type]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("token_type", list(TokenType))
def test_issued_token_carries_exactly_the_documented_claims(
    algorithm: str, token_type: TokenType
) -> None:
    token = make_codec(algorithm).encode("01USER", token_type)

    claims = unverified_claims(token)

    assert set(claims) == EXPECTED_CLAIMS
    assert claims["iss"] == ISSUER
    assert claims["sub"] == claims["user_id"] == "01USER"
    assert claims["token_type"] == token_type.value
    assert isinstance(claims["jti"], str) and claims["jti"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(
    ("token_type", "typ"), [(TokenType.ACCESS, "at+jwt"), (TokenType.REFRESH, "JWT")]
)
def test_issued_token_header_names_key_algorithm_and_type(
    algorithm: str, token_type: TokenType, typ: str
) -> None:
    token = make_codec(algorithm).encode("01USER", token_type)

    header = jwt.get_unverified_header(token)

    assert header == {"alg": algorithm, "kid": key_for(algorithm).kid, "typ": typ}


def test_each_issued_token_has_its_own_jti() -> None:
    codec = make_codec()

    first = codec.decode(codec.encode("01USER", TokenType.ACCESS), TokenType.ACCESS)
    second = codec.decode(codec.encode("01USER", TokenType.ACCESS), TokenType.ACCESS)

    assert first.jti != second.jti


def test_audience_is_issued_and_accepted_when_configured() -> None:
    codec = make_codec(audience="orders-api")

    token = codec.encode("01USER", TokenType.ACCESS)

    assert unverified_claims(token)["aud"] == "orders-api"
    assert codec.decode(token, TokenType.ACCESS).user_id == "01USER"


# Expiry, against the injected clock.


@pytest.mark.parametrize("before_exp", [1, 0.001])
def test_token_is_valid_just_before_it_expires(before_exp: float) -> None:
    clock = Clock()
    codec = make_codec(clock=clock)
    token = codec.encode("01USER", TokenType.ACCESS)

    clock.now = NOW + 300 - before_exp

    assert codec.decode(token, TokenType.ACCESS).user_id == "01USER"


@pytest.mark.parametrize("after_exp", [0, 0.001, 1, 86400])
def test_token_is_refused_at_and_after_expiry(after_exp: float) -> None:
    clock = Clock()
    codec = make_codec(clock=clock)
    token = codec.encode("01USER", TokenType.ACCESS)

    clock.now = NOW + 300 + after_exp

    assert_refused(codec, token)


def test_refresh_token_outlives_access_lifetime() -> None:
    clock = Clock()
    codec = make_codec(clock=clock)
    token = codec.encode("01USER", TokenType.REFRESH)

    clock.now = NOW + 86400 - 1

    assert codec.decode(token, TokenType.REFRESH).user_id == "01USER"


# Token type.


def test_refresh_token_is_rejected_as_access_token() -> None:
    codec = make_codec()

    assert_refused(codec, codec.encode("01USER", TokenType.REFRESH), TokenType.ACCESS)


def test_access_token_is_rejected_as_refresh_token() -> None:
    codec = make_codec()

    assert_refused(codec, codec.encode("01USER", TokenType.ACCESS), TokenType.REFRESH)


@pytest.mark.parametrize(
    ("token_type", "typ", "expected"),
    [
        ("refresh", "at+jwt", TokenType.ACCESS),
        ("access", "JWT", TokenType.ACCESS),
        ("refresh", "at+jwt", TokenType.REFRESH),
    ],
)
def test_token_whose_typ_header_and_token_type_disagree_is_refused(
    token_type: str, typ: str, expected: TokenType
) -> None:
    token = sign(good_claims(token_type), key_for("EdDSA"), typ=typ)

    assert_refused(make_codec(), token, expected)


# Tampering.


def test_hand_signed_token_with_our_key_is_accepted() -> None:
    # The baseline the crafted tokens below differ from in one respect each.
    token = sign(good_claims(), key_for("EdDSA"))

    assert make_codec().decode(token, TokenType.ACCESS).user_id == "01USER"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_with_changed_subject_is_refused(algorithm: str) -> None:
    codec = make_codec(algorithm)
    header, payload, signature = codec.encode("01USER", TokenType.ACCESS).split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = claims["user_id"] = "01ADMIN"

    assert_refused(codec, f"{header}.{b64url_json(claims)}.{signature}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_with_altered_signature_is_refused(algorithm: str) -> None:
    codec = make_codec(algorithm)
    header, payload, signature = codec.encode("01USER", TokenType.ACCESS).split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01

    assert_refused(codec, f"{header}.{payload}.{b64url(bytes(raw))}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_without_signature_is_refused(algorithm: str) -> None:
    codec = make_codec(algorithm)
    header, payload, _ = codec.encode("01USER", TokenType.ACCESS).split(".")

    assert_refused(codec, f"{header}.{payload}.")


@pytest.mark.parametrize("garbage", ["", "x", "a.b", "a.b.c", "...", "ey.ey.ey", "ü.ü.ü"])
def test_garbage_is_refused(garbage: str) -> None:
    assert_refused(make_codec(), garbage)


# alg: none and algorithm confusion (RFC 8725 §2.1, §3.1).


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "AAAA"])
def test_unsigned_alg_none_token_is_refused(spelling: str, signature: str) -> None:
    header = {"alg": spelling, "kid": key_for("EdDSA").kid, "typ": "at+jwt"}
    token = f"{b64url_json(header)}.{b64url_json(good_claims())}.{signature}"

    assert_refused(make_codec(), token)


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
def test_alg_none_token_carrying_a_real_signature_is_refused(spelling: str) -> None:
    codec = make_codec()
    _, payload, signature = codec.encode("01USER", TokenType.ACCESS).split(".")
    header = {"alg": spelling, "kid": key_for("EdDSA").kid, "typ": "at+jwt"}

    assert_refused(codec, f"{b64url_json(header)}.{payload}.{signature}")


PUBLIC_FORMATS = [
    (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
]


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
@pytest.mark.parametrize(("encoding", "public_format"), PUBLIC_FORMATS)
def test_hs256_token_keyed_with_our_public_key_is_refused(
    algorithm: str, encoding: serialization.Encoding, public_format: serialization.PublicFormat
) -> None:
    key = key_for(algorithm)
    public_bytes = key.verifying_key.public_bytes(encoding, public_format)
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    signing_input = f"{b64url_json(header)}.{b64url_json(good_claims())}"
    mac = hmac.new(public_bytes, signing_input.encode(), hashlib.sha256).digest()

    assert_refused(make_codec(algorithm), f"{signing_input}.{b64url(mac)}")


@pytest.mark.parametrize(
    ("our_algorithm", "their_algorithm"),
    [("EdDSA", "ES256"), ("ES256", "RS256"), ("RS256", "EdDSA"), ("HS256", "EdDSA")],
)
def test_token_with_another_algorithm_under_our_kid_is_refused(
    our_algorithm: str, their_algorithm: str
) -> None:
    attacker = other_key_for(their_algorithm)
    header = {"alg": their_algorithm, "kid": key_for(our_algorithm).kid, "typ": "at+jwt"}

    assert_refused(make_codec(our_algorithm), sign_by_hand(header, good_claims(), attacker))


# kid.


@pytest.mark.parametrize(
    "kid", ["unknown", "", "../../etc/passwd", "/dev/null", "file:///etc/passwd", "* "]
)
def test_token_with_unknown_kid_is_refused(kid: str) -> None:
    key = key_for("EdDSA")
    header = {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}

    assert_refused(make_codec(), sign_by_hand(header, good_claims(), key))


def test_token_without_kid_is_refused() -> None:
    key = key_for("EdDSA")
    header = {"alg": "EdDSA", "typ": "at+jwt"}

    assert_refused(make_codec(), sign_by_hand(header, good_claims(), key))


@pytest.mark.parametrize("kid", [None, 1, 1.5, True, ["kid"], {"kid": "x"}])
def test_token_with_non_string_kid_is_refused(kid: object) -> None:
    key = key_for("EdDSA")
    header = {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}

    assert_refused(make_codec(), sign_by_hand(header, good_claims(), key))


def test_token_with_list_of_our_kid_is_refused() -> None:
    key = key_for("EdDSA")
    header = {"alg": "EdDSA", "kid": [key.kid], "typ": "at+jwt"}

    assert_refused(make_codec(), sign_by_hand(header, good_claims(), key))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_signed_by_another_key_with_our_kid_is_refused(algorithm: str) -> None:
    attacker = other_key_for(algorithm)
    header = header_for(key_for(algorithm))

    assert_refused(make_codec(algorithm), sign_by_hand(header, good_claims(), attacker))


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u"])
def test_key_carried_or_pointed_to_by_the_token_is_not_trusted(name: str) -> None:
    attacker = other_key_for("EdDSA")
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.verifying_key))
    value = jwk if name == "jwk" else "https://attacker.example/keys.json"
    header = header_for(key_for("EdDSA"), **{name: value})

    assert_refused(make_codec(), sign_by_hand(header, good_claims(), attacker))


@pytest.mark.parametrize("name", ["jwk", "jku", "x5u"])
def test_key_location_headers_on_our_own_token_are_ignored(name: str) -> None:
    header = header_for(key_for("EdDSA"), **{name: "https://attacker.example/keys.json"})
    token = sign_by_hand(header, good_claims(), key_for("EdDSA"))

    assert make_codec().decode(token, TokenType.ACCESS).user_id == "01USER"


def refusal_detail(token: str) -> str:
    with pytest.raises(AuthError) as caught:
        make_codec().decode(token, TokenType.ACCESS)
    return caught.value.detail


def test_token_under_an_unknown_kid_is_refused_as_signed_by_an_unknown_key() -> None:
    header = {"alg": "EdDSA", "kid": "unknown", "typ": "at+jwt"}
    token = sign_by_hand(header, good_claims(), key_for("EdDSA"))

    assert refusal_detail(token) == "Token is signed by an unknown key."


def malformed(token: str, how: str) -> str:
    header, payload, signature = token.split(".")
    return {
        "junk in header": f"!{header}.{payload}.{signature}",
        "junk payload": f"{header}.!!!!.{signature}",
        "short signature": f"{header}.{payload}.a",
        "two segments": f"{header}.{payload}",
    }[how]


@pytest.mark.parametrize(
    "kid", [key_for("EdDSA").kid, "unknown", 1], ids=["our kid", "unknown kid", "numeric kid"]
)
@pytest.mark.parametrize(
    "how", ["junk in header", "junk payload", "short signature", "two segments"]
)
def test_malformed_token_gets_the_generic_answer_whatever_its_kid(kid: object, how: str) -> None:
    header = {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
    token = malformed(sign_by_hand(header, good_claims(), key_for("EdDSA")), how)

    assert refusal_detail(token) == "Token is invalid or expired."


def test_padded_segments_of_our_token_are_accepted() -> None:
    # PyJWT accepts base64url padding (some issuers send it); picking the key must too.
    header = b64url_json(header_for(key_for("EdDSA"), pad="x"))
    assert len(header) % 4, "the header needs padding for this test"
    signing_input = f"{header}{'=' * (-len(header) % 4)}.{b64url_json(good_claims())}"
    signature = key_for("EdDSA").signing_key.sign(signing_input.encode())

    token = f"{signing_input}.{b64url(signature)}"

    assert make_codec().decode(token, TokenType.ACCESS).user_id == "01USER"


# Size.


def signed_token_with_padding(pad: int) -> str:
    return sign(good_claims(pad="x" * pad), key_for("EdDSA"))


def padding_for_length(lowest: int) -> int:
    """The smallest padding that makes our signed token at least `lowest` characters long."""
    pad = 0
    while len(signed_token_with_padding(pad)) < lowest:
        pad += max(1, (lowest - len(signed_token_with_padding(pad))) * 3 // 4)
    return pad


def test_token_at_most_the_length_limit_is_accepted() -> None:
    token = signed_token_with_padding(padding_for_length(MAX_TOKEN_LENGTH + 1) - 1)

    assert MAX_TOKEN_LENGTH - 4 <= len(token) <= MAX_TOKEN_LENGTH
    assert make_codec().decode(token, TokenType.ACCESS).user_id == "01USER"


def test_token_over_the_length_limit_is_refused() -> None:
    token = signed_token_with_padding(padding_for_length(MAX_TOKEN_LENGTH + 1))

    assert len(token) > MAX_TOKEN_LENGTH == 8192
    assert_refused(make_codec(), token)


# Claims.


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sub", "token_type", "iss"])
def test_token_missing_a_required_claim_is_refused(claim: str) -> None:
    token = sign(good_claims(**{claim: None}), key_for("EdDSA"))

    assert_refused(make_codec(), token)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", "9999999999"),
        ("exp", float(NOW + 300)),
        ("exp", True),
        ("iat", "now"),
        ("sub", ""),
        ("sub", 42),
        ("jti", ""),
        ("jti", ["a"]),
        ("token_type", "ACCESS"),
    ],
)
def test_token_with_a_malformed_claim_is_refused(claim: str, value: object) -> None:
    token = sign(good_claims(**{claim: value}), key_for("EdDSA"))

    assert_refused(make_codec(), token)


@pytest.mark.parametrize("issuer", ["someone-else", "Authgate", "authgate ", ""])
def test_token_from_another_issuer_is_refused(issuer: str) -> None:
    token = sign(good_claims(iss=issuer), key_for("EdDSA"))

    assert_refused(make_codec(), token)


def test_token_without_audience_is_refused_when_audience_is_configured() -> None:
    token = sign(good_claims(), key_for("EdDSA"))

    assert_refused(make_codec(audience="orders-api"), token)


@pytest.mark.parametrize("audience", ["billing-api", ["billing-api"], "", "orders-api2"])
def test_token_for_another_audience_is_refused(audience: object) -> None:
    token = sign(good_claims(aud=audience), key_for("EdDSA"))

    assert_refused(make_codec(audience="orders-api"), token)


def test_token_for_our_audience_among_others_is_accepted() -> None:
    token = sign(good_claims(aud=["billing-api", "orders-api"]), key_for("EdDSA"))

    claims = make_codec(audience="orders-api").decode(token, TokenType.ACCESS)

    assert claims.user_id == "01USER"


# Key sets with several keys.


def test_token_is_checked_with_the_key_its_kid_names() -> None:
    old, new = key_for("RS256"), key_for("EdDSA")
    codec = TokenCodec(key_set_of(old, new), issuer=ISSUER, clock=Clock())
    old_token = TokenCodec(key_set_for("RS256"), issuer=ISSUER, clock=Clock()).encode(
        "01USER", TokenType.ACCESS
    )

    assert codec.decode(old_token, TokenType.ACCESS).user_id == "01USER"
    assert jwt.get_unverified_header(codec.encode("01USER", TokenType.ACCESS))["kid"] == new.kid
