"""Pure OAuth2 pieces: SASL messages (RFC 7628), PKCE (RFC 7636), presets, ID-token addresses."""

from __future__ import annotations

import base64
import json

import pytest

from bridge.config import Secret
from bridge.oauth import identity, pkce, presets, sasl


def test_xoauth2_message_is_googles_format():
    message = sasl.initial_response(sasl.Mechanism.XOAUTH2, "a@b.example", "tok")
    assert message == b"user=a@b.example\x01auth=Bearer tok\x01\x01"


def test_oauthbearer_message_follows_rfc_7628():
    # RFC 7628 § 4.1 example, with the host and port of the server.
    message = sasl.initial_response(
        sasl.Mechanism.OAUTHBEARER, "user@example.com", "vF9dft4qmT", "server.example.com", 143
    )
    assert message == b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmT\x01\x01"


def test_gs2_authzid_escapes_comma_and_equals():
    message = sasl.initial_response(sasl.Mechanism.OAUTHBEARER, "a,b=c@x", "t")
    assert message.startswith(b"n,a=a=2Cb=3Dc@x,\x01")


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["PLAIN", "XOAUTH2", "OAUTHBEARER"], sasl.Mechanism.OAUTHBEARER),
        (["xoauth2"], sasl.Mechanism.XOAUTH2),
        (["oauthbearer"], sasl.Mechanism.OAUTHBEARER),
        ([], sasl.Mechanism.XOAUTH2),
    ],
)
def test_mechanism_follows_the_servers_capabilities(offered, chosen):
    assert sasl.choose(offered) is chosen


def test_error_challenge_is_read():
    challenge = base64.b64encode(b'{"status":"401","schemes":"bearer"}').decode()
    assert sasl.error_reason(challenge) == "status 401"
    assert sasl.error_reason("not base64!") is None


def test_pkce_s256_matches_rfc_7636_appendix_b():
    assert (
        pkce.challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier = pkce.new_verifier()
    assert 43 <= len(verifier) <= 128 and verifier != pkce.new_verifier()


def _jwt(claims: dict) -> str:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.sig"


@pytest.mark.parametrize(
    ("claims", "address"),
    [
        ({"email": "you@gmail.com", "sub": "1"}, "you@gmail.com"),
        ({"preferred_username": "ann@contoso.com"}, "ann@contoso.com"),
        ({"upn": "bob@contoso.com", "preferred_username": "not-an-address"}, "bob@contoso.com"),
        ({"sub": "1"}, None),
    ],
)
def test_address_comes_from_the_id_token(claims, address):
    assert identity.address(identity.id_token_claims(_jwt(claims))) == address


def test_malformed_id_tokens_name_nobody():
    assert identity.id_token_claims("nonsense") == {}
    assert identity.id_token_claims("a.!!!.c") == {}


def _app(provider: presets.Provider, **kw) -> presets.OAuthApp:
    return presets.OAuthApp(
        id="oa_1", provider=provider, name="n", client_id="cid", client_secret=Secret("s"),
        redirect_url="https://b.example/oauth/callback", **kw,
    )  # fmt: skip


def test_presets_give_hosts_and_overrides_win():
    google = presets.resolve(_app(presets.Provider.GOOGLE))
    assert (google.imap.host, google.imap.port, google.smtp.host, google.smtp.port) == (
        "imap.gmail.com", 993, "smtp.gmail.com", 465,
    )  # fmt: skip
    ms = presets.resolve(_app(presets.Provider.MICROSOFT, tenant="contoso.onmicrosoft.com"))
    assert ms.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert (ms.smtp.host, ms.smtp.port, ms.smtp.secure, ms.smtp.starttls) == ("smtp.office365.com", 587, False, True)
    assert ms.imap.host == "outlook.office365.com"
    custom_scopes = presets.resolve(_app(presets.Provider.GOOGLE, scopes=("https://mail.google.com/",)))
    assert custom_scopes.scopes == ("https://mail.google.com/",)
    with pytest.raises(ValueError, match="authorizationUrl and tokenUrl"):
        presets.resolve(_app(presets.Provider.CUSTOM))
