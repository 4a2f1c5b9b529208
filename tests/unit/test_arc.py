"""ARC (RFC 8617): the ValiMail validation vectors, AAR parsing, and when a trusted sealer vouches.

DNS goes through a dict-backed Resolver passed as an argument (the declared seam): the
vectors carry their own key records; the forwarding scenarios publish keys made here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from bridge.inbound.records import auth_json
from bridge.mail.message import parse
from bridge.senderauth.arc import ArcHop, ArcResult, ArcStatus, arc_vouch, dmarc_results, sealer_trusted, verify_arc
from bridge.senderauth.results import VerifiedVia, verify_sender
from tests.arc_support import Key, arc_seal, as_list_would, dkim_sign, forwarded, make_key, original
from tests.unit.test_auth_results import DictResolver

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpora" / "auth" / "arc"
DMARC_REJECT = "v=DMARC1; p=reject"
TRUSTED = ["forwarder.example"]

# Every vector with an asserted cv agrees with dkimpy 1.1.8 today; a new dkimpy must not lose any.
VALIDATION_FLOOR = 168


def _vectors() -> list[tuple[str, bytes, str, dict[str, str]]]:
    out = []
    for doc in yaml.safe_load_all((CORPUS / "arc-draft-validation-tests.yml").read_text()):
        txt = {name: value for name, value in (doc.get("txt-records") or {}).items()}
        for name, test in doc["tests"].items():
            raw = (test["message"] or "").replace("\r\n", "\n").replace("\n", "\r\n").encode()
            out.append((name, raw, (test.get("cv") or "").strip().lower(), txt))
    return out


VECTORS = _vectors()


def test_validation_vectors_match_the_index():
    index = [json.loads(line) for line in (CORPUS / "expected.jsonl").read_text().splitlines()]
    expected = {row["name"]: row["expected_cv"].lower() for row in index if row["kind"] == "validation"}
    assert {name: cv for name, _, cv, _ in VECTORS} == expected
    assert len(VECTORS) == 171


def test_validation_vectors_agree_with_the_suite():
    misses = []
    scored = 0
    for name, raw, want, txt in VECTORS:
        if not want:  # three vectors assert no cv
            continue
        scored += 1
        resolver = DictResolver({(n, "TXT"): [v] for n, v in txt.items()})
        got = verify_arc(raw, resolver)
        if got.result.value != want:
            misses.append(f"{name}: got {got.result.value} ({got.reason}) want {want}")
    assert scored == 168
    assert scored - len(misses) >= VALIDATION_FLOOR, misses


@pytest.mark.parametrize(
    "name",
    ["cv_pass_i1_1", "cv_pass_i3_1", "cv_fail_i1_ams_invalid", "cv_fail_i2_as1_invalid", "cv_empty"],
)
def test_selected_vectors_report_hops(name):
    [(raw, want, txt)] = [(raw, want, txt) for n, raw, want, txt in VECTORS if n == name]
    got = verify_arc(raw, DictResolver({(n, "TXT"): [v] for n, v in txt.items()}))
    assert got.result.value == want
    if want == "pass":
        assert [hop.instance for hop in got.hops] == list(range(1, len(got.hops) + 1))
        assert all(hop.domain == "example.org" and hop.selector == "dummy" for hop in got.hops)
        assert got.hops[0].cv == "none" and all(hop.cv == "pass" for hop in got.hops[1:])
        assert got.sealers == ("example.org",)


def test_key_lookup_timeout_is_a_fail_with_a_reason():
    [(raw, txt)] = [(raw, txt) for n, raw, _, txt in VECTORS if n == "cv_pass_i1_1"]
    got = verify_arc(raw, DictResolver({}, tempfail=list(txt)))
    assert got.result is ArcStatus.FAIL
    assert "temporarily" in got.reason


def test_malformed_chain_is_a_fail_not_a_crash():
    # dkimpy looks the AMS up by " i=N;" and would raise IndexError when i= ends the value.
    raw = (
        b"ARC-Seal: a=rsa-sha256; b=AAAA; cv=none; d=example.org; s=dummy; i=1\r\n"
        b"ARC-Message-Signature: a=rsa-sha256; b=AAAA; bh=AAAA; d=example.org; h=from; s=dummy; i=1\r\n"
        b"ARC-Authentication-Results: i=1; example.org; dmarc=pass\r\n"
        b"From: a@example.org\r\n\r\nbody\r\n"
    )
    assert verify_arc(raw, DictResolver({})).result is ArcStatus.FAIL


# -- ARC-Authentication-Results ------------------------------------------------


@pytest.mark.parametrize(
    ("aar", "expected"),
    [
        ("i=1; lists.example.org; spf=pass smtp.mfrom=jqd@d1.example; dmarc=pass", [("pass", "")]),
        (  # Gmail
            "i=1; mx.google.com; dkim=pass header.i=@ex.com header.s=s1 header.b=Ab; "
            "spf=pass (google.com: domain of a@ex.com designates 1.2.3.4 as permitted sender) smtp.mailfrom=a@ex.com; "
            "dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=Ex.COM",
            [("pass", "ex.com")],
        ),
        (  # Microsoft 365
            "i=1; mx.microsoft.com 1; spf=pass smtp.mailfrom=ex.com; dmarc=pass action=none header.from=ex.com; "
            "dkim=pass header.d=ex.com; arc=none",
            [("pass", "ex.com")],
        ),
        ("i=2; x.example; dmarc = fail (p=none; dis=none) header.from=ex.com", [("fail", "ex.com")]),
        ('i=1; x.example; dmarc/1=pass header.from="ex.com"', [("pass", "ex.com")]),
        ("i=1; x.example; none", []),
        ("i=1; x.example (comment; with semicolon); dmarc=pass header.from=ex.com", [("pass", "ex.com")]),
    ],
)
def test_dmarc_results(aar, expected):
    assert dmarc_results(aar) == expected


@pytest.mark.parametrize(
    ("domain", "trusted", "expected"),
    [
        ("google.com", ["google.com"], True),
        ("Lists.Google.Com.", ["google.com"], True),
        ("google.com", ["lists.google.com"], False),
        ("evilgoogle.com", ["google.com"], False),
        ("google.com.evil.example", ["google.com"], False),
        ("google.com", [], False),
    ],
)
def test_sealer_trusted(domain, trusted, expected):
    assert sealer_trusted(domain, trusted) is expected


def _hop(instance, domain, dmarc=(("pass", "sender.example"),)):
    return ArcHop(instance, domain, "s", "none" if instance == 1 else "pass", True, True, tuple(dmarc))


@pytest.mark.parametrize(
    ("hops", "vouching"),
    [
        ([_hop(1, "forwarder.example")], 1),
        # The newest set must be trusted: an untrusted hop after a trusted one could rewrite the message.
        ([_hop(1, "forwarder.example"), _hop(2, "relay.example")], None),
        # The oldest set of the trusted run counts; an untrusted older set is not read.
        ([_hop(1, "relay.example"), _hop(2, "forwarder.example")], 2),
        ([_hop(1, "relay.example"), _hop(2, "forwarder.example", [("fail", "sender.example")])], None),
        # Two trusted hops: the first saw the message before the list changed it.
        ([_hop(1, "forwarder.example"), _hop(2, "mx.forwarder.example", [("fail", "sender.example")])], 1),
        ([_hop(1, "forwarder.example", [("pass", "other.example")])], None),
        ([_hop(1, "forwarder.example", [("pass", "")])], None),
        ([_hop(1, "forwarder.example", [("pass", "sender.example"), ("fail", "sender.example")])], None),
    ],
)
def test_arc_vouch_reads_the_oldest_trusted_set(hops, vouching):
    got = arc_vouch(ArcResult(ArcStatus.PASS, tuple(hops)), "sender.example", TRUSTED)
    assert (got.instance if got else None) == vouching


@pytest.mark.parametrize("status", [ArcStatus.FAIL, ArcStatus.NONE])
def test_arc_vouch_needs_a_passing_chain(status):
    assert arc_vouch(ArcResult(status, (_hop(1, "forwarder.example"),)), "sender.example", TRUSTED) is None


# -- Through verify_sender: a list breaks DKIM, a forwarder seals --------------


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {
        "sender": make_key("sender.example"),
        "forwarder": make_key("forwarder.example", "arc"),
        "relay": make_key("relay.example", "arc"),
        "attacker": make_key("forwarder.example", "arc"),  # same name, key not published
    }


def _dns(keys: dict[str, Key]) -> DictResolver:
    published = [keys["sender"], keys["forwarder"], keys["relay"]]
    records = {(k.dns_name, "TXT"): [k.record] for k in published}
    records[("_dmarc.sender.example", "TXT")] = [DMARC_REJECT]
    return DictResolver(records)


def test_trusted_sealer_verifies_a_message_the_list_broke(keys):
    report = verify_sender(
        parse(forwarded(keys["sender"], keys["forwarder"])), _dns(keys), [], trusted_arc_sealers=TRUSTED
    )
    assert report.dmarc.result.value == "fail"
    assert report.verified and report.verified_via is VerifiedVia.ARC
    shape = auth_json(report)
    assert shape["verifiedVia"] == "arc"
    assert shape["arc"] == {
        "result": "pass",
        "reason": "chain validated",
        "chain": [{"instance": 1, "domain": "forwarder.example", "selector": "arc", "cv": "none"}],
        "sealers": ["forwarder.example"],
        "trustedSealer": "forwarder.example",
        "trustedInstance": 1,
    }


@pytest.mark.parametrize("trusted", [[], ["relay.example"], ["mx.forwarder.example"]])
def test_untrusted_sealer_does_not_verify(keys, trusted):
    report = verify_sender(
        parse(forwarded(keys["sender"], keys["forwarder"])), _dns(keys), [], trusted_arc_sealers=trusted
    )
    assert report.arc.result is ArcStatus.PASS
    assert not report.verified and report.verified_via is None
    assert auth_json(report)["arc"]["trustedSealer"] is None


def test_aar_saying_dmarc_fail_does_not_verify(keys):
    raw = forwarded(keys["sender"], keys["forwarder"], dmarc="fail")
    report = verify_sender(parse(raw), _dns(keys), [], trusted_arc_sealers=TRUSTED)
    assert report.arc.result is ArcStatus.PASS and not report.verified


def test_forged_chain_does_not_verify(keys):
    raw = forwarded(keys["sender"], keys["attacker"])  # sealed with a key DNS does not hold
    report = verify_sender(parse(raw), _dns(keys), [], trusted_arc_sealers=TRUSTED)
    assert report.arc.result is ArcStatus.FAIL and not report.verified


def test_message_changed_after_sealing_does_not_verify(keys):
    raw = forwarded(keys["sender"], keys["forwarder"]).replace(b"numbers are in", b"numbers are NOT in")
    report = verify_sender(parse(raw), _dns(keys), [], trusted_arc_sealers=TRUSTED)
    assert report.arc.result is ArcStatus.FAIL and not report.verified


def test_direct_dmarc_pass_is_reported_as_dmarc(keys):
    raw = dkim_sign(original(), keys["sender"])  # DKIM intact
    raw = arc_seal(raw, keys["forwarder"], "dkim=pass header.d=sender.example; dmarc=pass header.from=sender.example")
    report = verify_sender(parse(raw), _dns(keys), [], trusted_arc_sealers=TRUSTED)
    assert report.verified and report.verified_via is VerifiedVia.DMARC
    assert report.arc_vouch is None


def test_untrusted_newest_set_over_a_trusted_one_does_not_verify(keys):
    raw = forwarded(keys["sender"], keys["forwarder"])
    raw = arc_seal(as_list_would(raw, "[fwd]"), keys["relay"], "arc=pass; dmarc=fail header.from=sender.example")
    report = verify_sender(parse(raw), _dns(keys), [], trusted_arc_sealers=TRUSTED)
    assert report.arc.result is ArcStatus.PASS
    assert [hop.domain for hop in report.arc.hops] == ["forwarder.example", "relay.example"]
    assert not report.verified
    both = verify_sender(parse(raw), _dns(keys), [], trusted_arc_sealers=[*TRUSTED, "relay.example"])
    assert both.verified and both.arc_vouch is not None and both.arc_vouch.instance == 1


def test_no_arc_is_none(keys):
    report = verify_sender(parse(dkim_sign(original(), keys["sender"])), _dns(keys), [], trusted_arc_sealers=TRUSTED)
    assert report.arc.result is ArcStatus.NONE and report.arc.hops == ()
    assert auth_json(report)["arc"]["chain"] == []


def test_arc_check_always_passes_our_dnsfunc():
    # dkimpy's default dnsfunc would query real DNS; every call into it must pass ours.
    tree = ast.parse((ROOT / "bridge" / "senderauth" / "arc.py").read_text())
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"verify", "arc_verify"}
    ]
    assert calls and all(any(kw.arg == "dnsfunc" for kw in call.keywords) for call in calls)
