"""Standard Webhooks signing: deterministic vectors, rotation, and interop with the reference library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge.webhooks import signing

# The Standard Webhooks reference test vector (spec repository, "Signature Scheme" example).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_700_000_000
BODY = b'{"id":"evt_1","event":"messageNew","account":"acme","date":"2026-11-21T09:00:00.000Z","data":{}}'


def test_sign_matches_the_spec_vector():
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_sign_is_hmac_sha256_of_id_timestamp_body():
    secret = signing.generate_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, b"evt_7.123." + BODY, hashlib.sha256).digest()
    assert signing.sign(secret, "evt_7", 123, BODY) == "v1," + base64.b64encode(expected).decode()


def test_generated_secrets_are_whsec_base64_of_32_random_bytes():
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(signing.secret_key(first)) == 32


@pytest.mark.parametrize("bad", ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_abc"])
def test_malformed_secrets_are_refused(bad):
    with pytest.raises(ValueError):
        signing.secret_key(bad)


def test_verify_accepts_own_headers():
    secret = signing.generate_secret()
    headers = signing.headers([secret], "evt_1", NOW, BODY)
    assert signing.verify(secret, headers, BODY, now=NOW)


def test_verify_accepts_header_names_in_any_case():
    secret = signing.generate_secret()
    headers = {k.title(): v for k, v in signing.headers([secret], "evt_1", NOW, BODY).items()}
    assert signing.verify(secret, headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "evt_2"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(NOW + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "soon"}, b),
        lambda h, b: ({**h, "webhook-signature": ""}, b),
    ],
    ids=["body", "id", "timestamp", "signature", "version", "missing-id", "bad-timestamp", "empty-signature"],
)
def test_verify_rejects_tampering(tamper):
    secret = signing.generate_secret()
    headers, body = tamper(signing.headers([secret], "evt_1", NOW, BODY), BODY)
    assert not signing.verify(secret, headers, body, now=NOW)


def test_verify_rejects_another_secret():
    headers = signing.headers([signing.generate_secret()], "evt_1", NOW, BODY)
    assert not signing.verify(signing.generate_secret(), headers, BODY, now=NOW)


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_verify_enforces_the_timestamp_tolerance(offset, ok):
    secret = signing.generate_secret()
    headers = signing.headers([secret], "evt_1", NOW, BODY)
    assert signing.verify(secret, headers, BODY, now=NOW + offset) is ok


def test_rotation_signs_with_both_secrets_space_separated():
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.headers([old, new], "evt_1", NOW, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert signing.verify(old, headers, BODY, now=NOW)
    assert signing.verify(new, headers, BODY, now=NOW)
    assert signing.verify([signing.generate_secret(), new], headers, BODY, now=NOW)


def test_signing_needs_a_secret():
    with pytest.raises(ValueError):
        signing.signature_header([], "evt_1", NOW, BODY)


def test_verify_skips_malformed_candidate_secrets():
    secret = signing.generate_secret()
    headers = signing.headers([secret], "evt_1", NOW, BODY)
    assert signing.verify(["not-a-secret", secret], headers, BODY, now=NOW)


# -- interop: the standardwebhooks reference library accepts what we send ------------


def test_standardwebhooks_library_verifies_our_headers():
    # The library checks the timestamp against its own clock, so sign "now" here.
    secret = signing.generate_secret()
    headers = signing.headers([secret], "evt_42", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) is not None


def test_standardwebhooks_library_verifies_each_secret_during_rotation():
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.headers([old, new], "evt_42", int(time.time()), BODY)
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(BODY, headers)


def test_our_verify_accepts_the_reference_librarys_signature():
    wh = Webhook(SPEC_SECRET)
    signature = wh.sign(SPEC_ID, datetime.fromtimestamp(SPEC_TIMESTAMP, UTC), SPEC_BODY.decode())
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": signature}
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP)
