#!/usr/bin/env python3
"""Golden values for switchboard's Twilio code, made by Twilio's own helper
library (`twilio` on PyPI) and Google's `phonenumbers`.

    pip install twilio phonenumbers   # scripts/golden/install.sh does it
    python3 scripts/golden/make_golden.py  # rewrites tests/golden/*.json

The Rust tests read the committed JSON; they never run Python.
"""
import base64
import json
import os
import time
from unittest import mock

import phonenumbers
import twilio
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden")


class Multi(dict):
    """Form parameters that may repeat (what a web framework hands the validator)."""

    def getall(self, k):
        return self[k]


def signatures():
    cases = []
    token = "12345"
    forms = [
        [],
        [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
         ("From", "+12349013030"), ("To", "+18005551212")],
        [("Body", "héllo wörld 👋 & = + %"), ("From", "+447700900123"), ("MessageSid", "SM1")],
        [("b", "2"), ("a", "1"), ("a", "0"), ("B", "x"), ("a", "1")],
        [("CallStatus", "completed"), ("CallDuration", "42"), ("Price", "-0.0130"), ("empty", "")],
    ]
    urls = [
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        "https://example.com/api/phone/webhooks/twilio/voice",
        "https://example.com:443/api/phone/webhooks/twilio/status",
        "http://127.0.0.1:3001/api/phone/webhooks/twilio/sms",
        "http://example.com/api/phone/webhooks/twilio/recording?callId=0190abc",
    ]
    for tok in [token, "f9c3b7e0a1d2c4b5a6978877665544ee"]:
        v = RequestValidator(tok)
        for url in urls:
            for form in forms:
                params = Multi()
                for k, val in form:
                    params.setdefault(k, []).append(val)
                sig = v.compute_signature(url, params)
                # What the validator accepts: the URL as given, with or without its default port.
                variants = sorted({url, url.replace(":443/", "/").replace(":80/", "/"),
                                   url.replace("https://example.com/", "https://example.com:443/")})
                accepted = {u: v.validate(u, params, sig) for u in variants}
                cases.append({"token": tok, "url": url, "params": form, "signature": sig,
                              "validates": accepted,
                              "tampered_ok": v.validate(url, Multi({"x": ["y"]}), sig) if form else None})
    return {"twilio": twilio.__version__, "cases": cases}


def token():
    now = 1767225600  # 2026-01-01T00:00:00Z
    with mock.patch("time.time", return_value=now):
        t = AccessToken("AC" + "a" * 32, "SK" + "b" * 32, "secret-of-the-api-key-0123456789",
                        identity="user-42", ttl=3600)
        t.add_grant(VoiceGrant(outgoing_application_sid="AP" + "c" * 32, incoming_allow=True))
        jwt = t.to_jwt()
    head, body, _ = jwt.split(".")
    dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    return {"twilio": twilio.__version__, "now": now, "account_sid": "AC" + "a" * 32,
            "api_key": "SK" + "b" * 32, "api_secret": "secret-of-the-api-key-0123456789",
            "identity": "user-42", "ttl": 3600, "app_sid": "AP" + "c" * 32,
            "jwt": jwt, "header": dec(head), "payload": dec(body)}


def e164():
    rows = []
    inputs = [
        ("+1 415 555 2671", None), ("(415) 555-2671", "US"), ("415.555.2671", "US"),
        ("+44 20 7946 0958", None), ("020 7946 0958", "GB"), ("07700 900123", "GB"),
        ("+49 30 901820", None), ("030 901820", "DE"), ("+33 1 42 68 53 00", None),
        ("01 42 68 53 00", "FR"), ("+81 3-3224-5000", None), ("+61 2 9374 4000", None),
        ("+91 22 2778 8888", None), ("+55 11 3040-9000", None), ("+1 800 555 0199", None),
        ("+12025550143", None), ("12025550143", "US"), ("001 202 555 0143", "GB"),
        ("+1 415 555 267", None), ("555-2671", "US"), ("not a number", "US"),
        ("+999 1234 5678", None), ("", "US"), ("+", None), ("+1", None),
        ("+1 415 555 2671 ext. 12", None), ("tel:+1-415-555-2671", None),
        ("+442079460958", None), ("+4420794609589999", None), ("2079460958", None),
    ]
    for text, region in inputs:
        try:
            n = phonenumbers.parse(text, region)
            ok = phonenumbers.is_valid_number(n)
            out = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) if ok else None
        except phonenumbers.NumberParseException:
            out = None
        rows.append({"input": text, "region": region, "e164": out})
    return {"phonenumbers": phonenumbers.__version__, "rows": rows}


def twiml():
    """The TwiML documents switchboard answers with, as Twilio's VoiceResponse writes them."""
    tricky = 'A & B <c> "d" \'e\' Ünïcode'
    docs = {}
    # Inbound: ring the assigned agents' softphones; on no answer, Twilio asks `action`.
    r = VoiceResponse()
    d = Dial(timeout=20, action="https://sb.example/api/phone/webhooks/twilio/voice?step=after-dial&callId=c1")
    for who in ["user-1", "user-<2>&\"x\""]:
        d.client(who)
    r.append(d)
    docs["dial_clients"] = r.to_xml()
    # The same, each softphone reporting its answer (so the row says which agent took the call).
    r = VoiceResponse()
    d = Dial(timeout=20, action="https://sb.example/api/phone/webhooks/twilio/voice?step=after-dial&callId=c1")
    for who in ["user-1", "user-2"]:
        d.client(who, status_callback_event="answered completed", status_callback_method="POST",
                 status_callback="https://sb.example/api/phone/webhooks/twilio/status?callId=c1&leg=agent")
    r.append(d)
    docs["dial_clients_reporting"] = r.to_xml()
    # Outbound from the softphone: dial the number with the assigned caller id, recorded.
    r = VoiceResponse()
    d = Dial(caller_id="+14155550100", record="record-from-answer-dual",
             recording_status_callback="https://sb.example/api/phone/webhooks/twilio/recording?callId=c2")
    d.number("+442079460958")
    r.append(d)
    docs["dial_number_recorded"] = r.to_xml()
    r = VoiceResponse()
    d = Dial(caller_id="+14155550100")
    d.number("+442079460958")
    r.append(d)
    docs["dial_number"] = r.to_xml()
    r = VoiceResponse()
    d = Dial(caller_id="+14155550100", action="https://sb.example/api/phone/webhooks/twilio/voice?step=after-dial&callId=c2")
    d.number("+442079460958")
    r.append(d)
    docs["dial_number_action"] = r.to_xml()
    # Voicemail.
    r = VoiceResponse()
    r.say(tricky)
    r.record(max_length=120, play_beep=True,
             recording_status_callback="https://sb.example/api/phone/webhooks/twilio/recording?callId=c3&kind=voicemail")
    r.hangup()
    docs["voicemail"] = r.to_xml()
    r = VoiceResponse()
    r.reject()
    docs["reject"] = r.to_xml()
    r = VoiceResponse()
    r.say(tricky)
    r.hangup()
    docs["say_hangup"] = r.to_xml()
    return {"twilio": twilio.__version__, "tricky": tricky, "docs": docs}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("twilio_signatures", signatures()), ("twilio_token", token()), ("e164", e164()), ("twiml", twiml())]:
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
