#!/usr/bin/env python3
"""Golden values for Standard Webhooks signatures (https://www.standardwebhooks.com),
made by the spec's reference implementation, `standardwebhooks` on PyPI.

    python3 -m pip install standardwebhooks==1.3.0
    python3 scripts/golden/make_webhooks_golden.py  # rewrites tests/golden/standard_webhooks.json

Every signature comes from the library's own `Webhook(secret).sign(msg_id, timestamp, payload)`.
Each one is then checked with the library's own `Webhook(secret).verify(payload, headers)`:
once against the real clock (which fails with "Message timestamp too old" for these fixed,
past timestamps -- only the 5-minute tolerance rejects them), and once with the library's
clock pinned to the message timestamp, where it must pass. A tampered payload must fail.
The inputs are fixed: no randomness, and the output doesn't depend on the current time
(beyond the real-clock check, which is "too old" for any run after 2026-12-07T14:18Z).

The Rust tests read the committed JSON; they never run Python.
"""
import base64
import json
import os
from datetime import datetime, timezone
from unittest import mock

import standardwebhooks
import standardwebhooks.webhooks as swh
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "standard_webhooks.json")

# 24-byte key: the secret of the spec's own published test vector.
SECRET_24 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# 32-byte key: the bytes 0x00..0x1f (its base64 ends in "=" padding).
SECRET_32 = "whsec_" + base64.b64encode(bytes(range(32))).decode()

MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
CALL_ENDED = '{"type":"call.ended","data":{"id":"c1"}}'
NON_ASCII = '{"type":"call.ended","data":{"id":"c2","caller":"Zoë ☎"}}'

CASES = [
    # (name, secret, msg_id, timestamp, payload)
    ("spec_vector", SECRET_24, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'),
    ("key24_call_ended", SECRET_24, MSG_ID, 1796652793, CALL_ENDED),
    ("key32_call_ended", SECRET_32, MSG_ID, 1796652793, CALL_ENDED),
    ("key32_call_ended_old_ts", SECRET_32, MSG_ID, 1614265330, CALL_ENDED),
    ("key24_non_ascii", SECRET_24, "msg_2KWPBnLlAfxdpx2AI54pPJ85f4X", 1614265330, NON_ASCII),
    ("key32_non_ascii", SECRET_32, MSG_ID, 1796652793, NON_ASCII),
    ("key24_empty_object", SECRET_24, MSG_ID, 1614265330, "{}"),
    ("key32_empty_object", SECRET_32, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1796652793, "{}"),
]

SIGNED_CONTENT = (
    "HMAC-SHA256, keyed with the base64-decoded part of the secret after 'whsec_', over the "
    "UTF-8 bytes of '{msg_id}.{timestamp}.{payload}' (timestamp = integer Unix seconds, "
    "payload = the raw body bytes exactly as sent); the header value is 'v1,' + standard "
    "base64 (with padding) of the 32-byte MAC. The webhook-signature header may carry several "
    "space-separated signatures; verify accepts if any matches and rejects timestamps more "
    "than 5 minutes from now. Source: standardwebhooks/webhooks.py, Webhook.sign: "
    "to_sign = f\"{msg_id}.{timestamp_str}.\".encode() + payload_bytes; "
    "hmac.new(key, to_sign, hashlib.sha256).digest(); f\"v1,{base64.b64encode(sig)}\""
)


def pinned_clock(ts):
    """The library's `datetime`, with now() fixed at `ts` (for its timestamp-tolerance check)."""

    class Pinned(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(ts, tz=tz)

    return mock.patch.object(swh, "datetime", Pinned)


def verify_result(wh, payload, headers):
    try:
        wh.verify(payload, headers)
        return "ok"
    except WebhookVerificationError as e:
        return f"WebhookVerificationError: {e}"


def make_case(name, secret, msg_id, ts, payload):
    wh = Webhook(secret)
    signature = wh.sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), payload)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}

    real_clock = verify_result(wh, payload, headers)
    # Only the tolerance check may fail; then recompute with sign() (as verify itself does).
    assert real_clock in ("ok", "WebhookVerificationError: Message timestamp too old"), real_clock
    recomputed = wh.sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), payload)
    assert recomputed == signature
    with pinned_clock(ts):
        pinned = verify_result(wh, payload, headers)
        tampered = verify_result(wh, payload + " ", headers)
    assert pinned == "ok", pinned
    assert tampered == "WebhookVerificationError: No matching signature found", tampered

    key_b64 = secret[len("whsec_"):]
    return {
        "name": name,
        "secret": secret,
        "key_base64": key_b64,
        "key_len": len(base64.b64decode(key_b64)),
        "msg_id": msg_id,
        "timestamp": ts,
        "payload": payload,
        "payload_utf8_len": len(payload.encode()),
        "signed_content": f"{msg_id}.{ts}.{payload}",
        "signature": signature,
        "headers": headers,
        "verify_real_clock": real_clock,
        "verify_recomputed_with_sign_matches": recomputed == signature,
        "verify_clock_pinned_to_timestamp": pinned,
        "verify_tampered_payload_clock_pinned": tampered,
    }


def main():
    cases = [make_case(*c) for c in CASES]
    # The spec's published test vector must come out as published.
    assert cases[0]["signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", cases[0]
    doc = {
        "generator": "scripts/golden/make_webhooks_golden.py",
        "library": f"standardwebhooks {standardwebhooks.__version__}",
        "signing_api": "standardwebhooks.webhooks.Webhook(secret).sign(msg_id, "
        "datetime.fromtimestamp(timestamp, tz=timezone.utc), payload)",
        "signed_content": SIGNED_CONTENT,
        "cases": cases,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
