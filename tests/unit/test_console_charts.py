"""The console's inline SVG charts and form mapping (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bridge.console import forms
from bridge.console.charts import Series, bar_chart, buckets, rates

SVG = "{http://www.w3.org/2000/svg}"


def test_a_bar_per_known_bucket_scaled_to_the_largest_and_a_text_alternative():
    svg = ET.fromstring(bar_chart(Series("Events <per> minute", (0.0, 2.0, None, 4.0), "/min"), "c"))  # noqa: S314 - our own output
    bars = svg.findall(f"{SVG}rect")
    assert len(bars) == 3  # None is a gap, not a zero bar
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == 0 and heights[2] == 2 * heights[1]
    assert svg.get("role") == "img"
    assert svg.get("aria-label").startswith("Events <per> minute: latest 4/min, highest 4/min")  # escaped in the text


def test_an_empty_series_says_so():
    svg = ET.fromstring(bar_chart(Series("Rate", (None, None), "%", ceiling=100.0), "r"))  # noqa: S314 - our own output
    assert svg.findall(f"{SVG}rect") == [] and svg.get("aria-label") == "Rate: no data"


def test_buckets_and_rates():
    assert buckets([0, 59, 60, 119.9, 120, -1], start=0, width_s=60, count=2) == [2, 2]
    assert rates([1, 0, 3], [2, 0, 3]) == (50.0, None, 100.0)


def test_the_account_form_becomes_the_api_body():
    form = {"account": " acme ", "email": "a@example.com", "imap.host": "imap.example.com", "imap.port": "993",
            "imap.security": "tls", "imap.auth.user": "a", "imap.auth.pass": "p", "smtp.host": "smtp.example.com",
            "smtp.port": "587", "smtp.security": "starttls", "smtp.same": "on", "verify": "on", "imap.insecure": "on"}  # fmt: skip
    body = forms.account_body(form)
    assert body["account"] == "acme" and body["verify"] is True
    assert body["imap"] == {"host": "imap.example.com", "port": 993, "secure": True, "auth": {"user": "a", "pass": "p"},
                            "tls": {"rejectUnauthorized": False}}  # fmt: skip
    assert body["smtp"] == {"host": "smtp.example.com", "port": 587, "secure": False, "starttls": True,
                            "auth": {"user": "a", "pass": "p"}}  # fmt: skip
    assert forms.account_body({**form, "smtp.host": ""})["smtp"] is None
    assert forms.account_body({**form, "imap.port": "x"})["imap"]["port"] == "x"  # left for the schema to refuse


def test_errors_land_on_their_fields():
    details = [{"field": "imap.port", "message": "too big"}, {"field": "body", "message": "pass or token"}]
    assert forms.field_errors(details) == {"imap.port": ["too big"], forms.GENERAL: ["pass or token"]}
    assert forms.login_error("authenticationFailed", "no", {"side": "smtp"}) == {
        "smtp.auth.pass": ["authenticationFailed: no"]
    }
    assert forms.login_error("connectFailed", "refused", {"side": "imap"}) == {"imap.host": ["connectFailed: refused"]}


def test_the_auth_verdict_in_plain_words():
    from bridge.console.verdicts import plain

    verified = plain({"verified": True, "verifiedVia": "dmarc", "fromDomain": "example.com",
                      "dmarc": {"result": "pass", "policy": "reject", "domain": "example.com"},
                      "spf": {"result": "pass", "domain": "example.com", "ip": "203.0.113.5"},
                      "dkim": [{"result": "pass", "domain": "example.com", "selector": "s1", "aligned": True}],
                      "arc": {"result": "none"}})  # fmt: skip
    assert verified.verified is True
    assert verified.headline == "Verified: this message really comes from example.com (via dmarc)."
    assert verified.lines == ("DMARC: pass (policy reject) for example.com", "SPF: pass for example.com from 203.0.113.5",
                              "DKIM: pass for example.com (selector s1, aligned with From)")  # fmt: skip
    forged = plain(
        {"verified": False, "fromDomain": "bank.example", "dmarc": {"result": "fail"}, "spf": {}, "dkim": []}
    )
    assert forged.verified is False and forged.headline.startswith("Not verified: nothing proves")
    assert "DKIM: no signature" in forged.lines
    assert plain(None).verified is None


def test_the_compact_verdict_of_the_message_index_reads_the_same():
    from bridge.console.verdicts import plain

    found = plain({"verified": True, "verifiedVia": "arc", "fromDomain": "lists.example", "spf": "fail",
                   "dkim": "pass", "dkimDomains": ["forwarder.example"], "dmarc": "fail", "arc": "pass",
                   "arcSealer": "google.com"})  # fmt: skip
    assert found.headline == "Verified: this message really comes from lists.example (via arc)."
    assert found.lines == ("DMARC: fail", "SPF: fail", "DKIM: pass for forwarder.example",
                           "ARC: pass, trusted sealer google.com")  # fmt: skip
