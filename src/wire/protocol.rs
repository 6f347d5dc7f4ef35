//! Client → server frames of the signaling socket: one borrowed parse into typed requests.
//!
//! Pure: no IO. A frame is parsed once into a flat struct of optional fields
//! (borrowing from the text where JSON escaping allows), then checked per
//! `type` so a missing field gets an error naming it. Server → client frames
//! live in `crate::wire::views`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::ErrorCode;

/// Longest `ref` a client may attach; it is echoed verbatim in the reply.
pub const MAX_REF_LEN: usize = 128;
/// Longest id (user or call) accepted in a frame.
pub const MAX_ID_LEN: usize = 255;
/// Longest `callerName` accepted.
pub const MAX_NAME_LEN: usize = 200;
/// Longest `accessToken` accepted in `auth.refresh` (Supabase's are about 1 KB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Availability an agent can choose with `status.set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Available,
    Away,
}

impl Availability {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(Self::Available),
            "away" => Some(Self::Away),
            _ => None,
        }
    }
}

/// A request a client can make over the socket.
#[derive(Debug)]
pub enum Request<'a> {
    CallStart {
        callee_id: Cow<'a, str>,
        caller_name: Option<Cow<'a, str>>,
        record: Option<bool>,
    },
    CallAccept {
        call_id: Cow<'a, str>,
    },
    CallDecline {
        call_id: Cow<'a, str>,
    },
    CallCancel {
        call_id: Cow<'a, str>,
    },
    CallEnd {
        call_id: Cow<'a, str>,
    },
    StatusSet {
        status: Availability,
    },
    /// Opaque data relayed to the other participant (p2p media mode).
    RtcSignal {
        call_id: Cow<'a, str>,
        data: &'a RawValue,
    },
    /// SDP offer from the client to the embedded SFU.
    RtcOffer {
        call_id: Cow<'a, str>,
        sdp: Cow<'a, str>,
    },
    /// SDP answer from the client to an SFU-initiated (re)negotiation.
    RtcAnswer {
        call_id: Cow<'a, str>,
        sdp: Cow<'a, str>,
    },
    /// A trickled ICE candidate from the client for the SFU.
    RtcCandidate {
        call_id: Cow<'a, str>,
        candidate: &'a RawValue,
    },
    /// A fresh access token for this socket (same user and tenant).
    AuthRefresh {
        access_token: Cow<'a, str>,
    },
    Ping,
}

/// Why a frame was refused, with the `ref` to echo when one could be read.
#[derive(Debug)]
pub struct FrameError<'a> {
    pub reference: Option<&'a RawValue>,
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

/// A parsed frame.
#[derive(Debug)]
pub struct Frame<'a> {
    pub reference: Option<&'a RawValue>,
    pub request: Request<'a>,
}

fn raw_eq(a: &RawValue, b: &RawValue) -> bool {
    a.get() == b.get()
}

fn opt_raw_eq(a: Option<&RawValue>, b: Option<&RawValue>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => raw_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

// `RawValue` has no `PartialEq`; these compare raw JSON by its text.
impl PartialEq for Request<'_> {
    fn eq(&self, other: &Self) -> bool {
        use Request::*;
        match (self, other) {
            (
                CallStart {
                    callee_id: a,
                    caller_name: b,
                    record: c,
                },
                CallStart {
                    callee_id: x,
                    caller_name: y,
                    record: z,
                },
            ) => a == x && b == y && c == z,
            (CallAccept { call_id: a }, CallAccept { call_id: b })
            | (CallDecline { call_id: a }, CallDecline { call_id: b })
            | (CallCancel { call_id: a }, CallCancel { call_id: b })
            | (CallEnd { call_id: a }, CallEnd { call_id: b }) => a == b,
            (StatusSet { status: a }, StatusSet { status: b }) => a == b,
            (RtcSignal { call_id: a, data: d }, RtcSignal { call_id: b, data: e }) => a == b && raw_eq(d, e),
            (RtcOffer { call_id: a, sdp: d }, RtcOffer { call_id: b, sdp: e })
            | (RtcAnswer { call_id: a, sdp: d }, RtcAnswer { call_id: b, sdp: e }) => a == b && d == e,
            (
                RtcCandidate {
                    call_id: a,
                    candidate: d,
                },
                RtcCandidate {
                    call_id: b,
                    candidate: e,
                },
            ) => a == b && raw_eq(d, e),
            (AuthRefresh { access_token: a }, AuthRefresh { access_token: b }) => a == b,
            (Ping, Ping) => true,
            _ => false,
        }
    }
}

impl PartialEq for Frame<'_> {
    fn eq(&self, other: &Self) -> bool {
        opt_raw_eq(self.reference, other.reference) && self.request == other.request
    }
}

impl PartialEq for FrameError<'_> {
    fn eq(&self, other: &Self) -> bool {
        opt_raw_eq(self.reference, other.reference) && self.code == other.code && self.message == other.message
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Flat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "ref", borrow, default)]
    reference: Option<&'a RawValue>,
    #[serde(borrow, default)]
    call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    callee_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    caller_name: Option<Cow<'a, str>>,
    #[serde(default)]
    record: Option<bool>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    sdp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    candidate: Option<&'a RawValue>,
    #[serde(borrow, default)]
    access_token: Option<Cow<'a, str>>,
}

/// Only `type` and `ref`, for reporting a frame whose other fields are wrong.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(rename = "ref", borrow, default)]
    reference: Option<&'a RawValue>,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Frame<'_>, FrameError<'_>> {
    // serde would also read a JSON array into the struct, field by field.
    if !text.trim_start().starts_with('{') {
        return Err(FrameError {
            reference: None,
            code: ErrorCode::InvalidMessage,
            message: "frame is not a JSON object".into(),
        });
    }
    let flat: Flat<'_> = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => return Err(explain(text, e)),
    };
    let reference = check_ref(flat.reference)?;
    let fail = |code, message: String| FrameError {
        reference,
        code,
        message: message.into(),
    };
    let kind = flat.kind.as_ref();
    let request = match kind {
        "call.start" => {
            let callee_id =
                required_id(kind, "calleeId", flat.callee_id).map_err(|m| fail(ErrorCode::InvalidMessage, m))?;
            let caller_name = match flat.caller_name {
                Some(n) if n.chars().count() > MAX_NAME_LEN => {
                    return Err(fail(
                        ErrorCode::InvalidMessage,
                        format!("`callerName` is longer than {MAX_NAME_LEN} characters"),
                    ));
                }
                other => other,
            };
            Request::CallStart {
                callee_id,
                caller_name,
                record: flat.record,
            }
        }
        "call.accept" | "call.decline" | "call.cancel" | "call.end" => {
            let call_id = required_id(kind, "callId", flat.call_id).map_err(|m| fail(ErrorCode::InvalidMessage, m))?;
            match kind {
                "call.accept" => Request::CallAccept { call_id },
                "call.decline" => Request::CallDecline { call_id },
                "call.cancel" => Request::CallCancel { call_id },
                _ => Request::CallEnd { call_id },
            }
        }
        "status.set" => {
            let status = flat.status.as_deref().and_then(Availability::parse).ok_or_else(|| {
                fail(
                    ErrorCode::InvalidMessage,
                    "`status.set` needs `status`: \"available\" or \"away\"".into(),
                )
            })?;
            Request::StatusSet { status }
        }
        "rtc.signal" => {
            let call_id = required_id(kind, "callId", flat.call_id).map_err(|m| fail(ErrorCode::InvalidMessage, m))?;
            let data = flat
                .data
                .ok_or_else(|| fail(ErrorCode::InvalidMessage, "`rtc.signal` needs `data`".into()))?;
            Request::RtcSignal { call_id, data }
        }
        "rtc.offer" | "rtc.answer" => {
            let call_id = required_id(kind, "callId", flat.call_id).map_err(|m| fail(ErrorCode::InvalidMessage, m))?;
            let sdp = match flat.sdp {
                Some(s) if !s.is_empty() => s,
                _ => {
                    return Err(fail(
                        ErrorCode::InvalidMessage,
                        format!("`{kind}` needs a non-empty `sdp`"),
                    ));
                }
            };
            if kind == "rtc.offer" {
                Request::RtcOffer { call_id, sdp }
            } else {
                Request::RtcAnswer { call_id, sdp }
            }
        }
        "rtc.candidate" => {
            let call_id = required_id(kind, "callId", flat.call_id).map_err(|m| fail(ErrorCode::InvalidMessage, m))?;
            let candidate = flat
                .candidate
                .ok_or_else(|| fail(ErrorCode::InvalidMessage, "`rtc.candidate` needs `candidate`".into()))?;
            Request::RtcCandidate { call_id, candidate }
        }
        "auth.refresh" => match flat.access_token {
            Some(t) if t.is_empty() => {
                return Err(fail(
                    ErrorCode::InvalidMessage,
                    "`accessToken` must not be empty".into(),
                ));
            }
            Some(t) if t.len() > MAX_TOKEN_LEN => {
                return Err(fail(
                    ErrorCode::InvalidMessage,
                    format!("`accessToken` is longer than {MAX_TOKEN_LEN} bytes"),
                ));
            }
            Some(access_token) => Request::AuthRefresh { access_token },
            None => {
                return Err(fail(
                    ErrorCode::InvalidMessage,
                    "`auth.refresh` needs `accessToken`".into(),
                ));
            }
        },
        "ping" => Request::Ping,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(fail(ErrorCode::UnknownType, format!("unknown message type `{shown}`")));
        }
    };
    Ok(Frame { reference, request })
}

fn required_id<'a>(kind: &str, field: &str, value: Option<Cow<'a, str>>) -> Result<Cow<'a, str>, String> {
    match value {
        None => Err(format!("`{kind}` needs `{field}`")),
        Some(v) if v.is_empty() => Err(format!("`{field}` must not be empty")),
        Some(v) if v.len() > MAX_ID_LEN => Err(format!("`{field}` is longer than {MAX_ID_LEN} bytes")),
        Some(v) => Ok(v),
    }
}

fn check_ref(reference: Option<&RawValue>) -> Result<Option<&RawValue>, FrameError<'_>> {
    match reference {
        None => Ok(None),
        Some(r) => {
            let s = r.get();
            let scalar = s.starts_with('"') || s.starts_with('-') || s.as_bytes()[0].is_ascii_digit();
            if s.len() > MAX_REF_LEN || !scalar {
                Err(FrameError {
                    reference: None,
                    code: ErrorCode::InvalidMessage,
                    message: format!("`ref` must be a string or a number, at most {MAX_REF_LEN} bytes as JSON").into(),
                })
            } else {
                Ok(Some(r))
            }
        }
    }
}

fn explain<'a>(text: &'a str, e: serde_json::Error) -> FrameError<'a> {
    match serde_json::from_str::<Head<'_>>(text) {
        Err(_) => FrameError {
            reference: None,
            code: ErrorCode::InvalidMessage,
            message: "frame is not a JSON object".into(),
        },
        Ok(head) => {
            let reference = check_ref(head.reference).unwrap_or(None);
            let message = match head.kind.map(|k| serde_json::from_str::<Cow<'_, str>>(k.get())) {
                None => "frame has no `type`".into(),
                Some(Ok(kind)) => {
                    let shown: String = kind.chars().take(40).collect();
                    format!("invalid `{shown}` frame: {e}").into()
                }
                Some(Err(_)) => "`type` must be a string".into(),
            };
            FrameError {
                reference,
                code: ErrorCode::InvalidMessage,
                message,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Frame<'_> {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn err(text: &str) -> FrameError<'_> {
        parse(text).expect_err(text)
    }

    #[test]
    fn parses_every_request_type() {
        let f = ok(r#"{"type":"call.start","ref":"r1","calleeId":"agent-1","callerName":"Ann","record":true}"#);
        assert_eq!(f.reference.map(RawValue::get), Some(r#""r1""#));
        assert_eq!(
            f.request,
            Request::CallStart {
                callee_id: "agent-1".into(),
                caller_name: Some("Ann".into()),
                record: Some(true)
            }
        );
        assert_eq!(
            ok(r#"{"type":"call.accept","callId":"c1"}"#).request,
            Request::CallAccept { call_id: "c1".into() }
        );
        assert_eq!(
            ok(r#"{"type":"call.decline","callId":"c1"}"#).request,
            Request::CallDecline { call_id: "c1".into() }
        );
        assert_eq!(
            ok(r#"{"type":"call.cancel","callId":"c1"}"#).request,
            Request::CallCancel { call_id: "c1".into() }
        );
        assert_eq!(
            ok(r#"{"type":"call.end","callId":"c1","ref":7}"#).request,
            Request::CallEnd { call_id: "c1".into() }
        );
        assert_eq!(
            ok(r#"{"type":"status.set","status":"away"}"#).request,
            Request::StatusSet {
                status: Availability::Away
            }
        );
        assert_eq!(ok(r#"{"type":"ping"}"#).request, Request::Ping);
        assert_eq!(
            ok(r#"{"type":"auth.refresh","accessToken":"a.b.c","ref":"x"}"#).request,
            Request::AuthRefresh {
                access_token: "a.b.c".into()
            }
        );
        match ok(r#"{"type":"rtc.signal","callId":"c1","data":{"sdp":"v=0","n":[1,2]}}"#).request {
            Request::RtcSignal { call_id, data } => {
                assert_eq!(call_id, "c1");
                assert_eq!(data.get(), r#"{"sdp":"v=0","n":[1,2]}"#);
            }
            other => panic!("{other:?}"),
        }
        match ok(r#"{"type":"rtc.offer","callId":"c1","sdp":"v=0\r\n"}"#).request {
            Request::RtcOffer { sdp, .. } => assert_eq!(sdp, "v=0\r\n"),
            other => panic!("{other:?}"),
        }
        match ok(r#"{"type":"rtc.candidate","callId":"c1","candidate":{"candidate":"a"}}"#).request {
            Request::RtcCandidate { candidate, .. } => assert_eq!(candidate.get(), r#"{"candidate":"a"}"#),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_escapes_decode() {
        let f = ok(r#"{"type":"call.start","calleeId":"a\u0062c","extra":{"x":1}}"#);
        assert_eq!(
            f.request,
            Request::CallStart {
                callee_id: "abc".into(),
                caller_name: None,
                record: None
            }
        );
    }

    #[test]
    fn malformed_json_is_invalid_message_without_ref() {
        for text in ["", "{", "not json", "[1,2]", r#"["ping"]"#, "42", "null", r#"{"type":"#] {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::InvalidMessage, "{text}");
            assert!(e.reference.is_none());
        }
    }

    #[test]
    fn missing_type_is_reported() {
        let e = err(r#"{"ref":"x","callId":"c"}"#);
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        assert!(e.message.contains("type"), "{}", e.message);
        assert_eq!(e.reference.map(RawValue::get), Some(r#""x""#));
    }

    #[test]
    fn a_non_string_type_is_named_as_such() {
        let e = err(r#"{"type":1,"ref":"z"}"#);
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        assert!(e.message.contains("`type` must be a string"), "{}", e.message);
        assert_eq!(e.reference.map(RawValue::get), Some(r#""z""#));
    }

    #[test]
    fn unknown_type_keeps_ref() {
        let e = err(r#"{"type":"call.teleport","ref":"r9"}"#);
        assert_eq!(e.code, ErrorCode::UnknownType);
        assert_eq!(e.reference.map(RawValue::get), Some(r#""r9""#));
        assert!(e.message.contains("call.teleport"));
    }

    #[test]
    fn missing_or_bad_fields_name_the_field() {
        let cases = [
            (r#"{"type":"call.start","ref":1}"#, "calleeId"),
            (r#"{"type":"call.start","calleeId":""}"#, "calleeId"),
            (r#"{"type":"call.accept"}"#, "callId"),
            (r#"{"type":"call.end","callId":""}"#, "callId"),
            (r#"{"type":"status.set","status":"asleep"}"#, "status"),
            (r#"{"type":"status.set"}"#, "status"),
            (r#"{"type":"rtc.signal","callId":"c"}"#, "data"),
            (r#"{"type":"rtc.offer","callId":"c","sdp":""}"#, "sdp"),
            (r#"{"type":"rtc.candidate","callId":"c"}"#, "candidate"),
            (r#"{"type":"auth.refresh"}"#, "accessToken"),
            (r#"{"type":"auth.refresh","accessToken":""}"#, "accessToken"),
        ];
        for (text, field) in cases {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::InvalidMessage, "{text}");
            assert!(e.message.contains(field), "{text}: {}", e.message);
        }
        let long = format!(r#"{{"type":"call.accept","callId":"{}"}}"#, "x".repeat(MAX_ID_LEN + 1));
        assert!(err(&long).message.contains("longer"));
        let name = format!(
            r#"{{"type":"call.start","calleeId":"a","callerName":"{}"}}"#,
            "n".repeat(MAX_NAME_LEN + 1)
        );
        assert!(err(&name).message.contains("callerName"));
        let token = format!(
            r#"{{"type":"auth.refresh","accessToken":"{}"}}"#,
            "t".repeat(MAX_TOKEN_LEN + 1)
        );
        assert!(err(&token).message.contains("accessToken"));
    }

    #[test]
    fn wrong_field_types_keep_the_ref() {
        let e = err(r#"{"type":"call.accept","ref":"r2","callId":42}"#);
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        assert_eq!(e.reference.map(RawValue::get), Some(r#""r2""#));
        assert!(e.message.contains("call.accept"));
        let e = err(r#"{"type":"call.start","calleeId":"a","record":"yes"}"#);
        assert_eq!(e.code, ErrorCode::InvalidMessage);
    }

    #[test]
    fn refs_must_be_short_scalars() {
        for bad in [r#"{"a":1}"#, "[1]", "true"] {
            let text = format!(r#"{{"type":"ping","ref":{bad}}}"#);
            let e = err(&text);
            assert_eq!(e.code, ErrorCode::InvalidMessage, "{text}");
            assert!(e.reference.is_none());
        }
        let long = format!(r#"{{"type":"ping","ref":"{}"}}"#, "r".repeat(MAX_REF_LEN));
        assert_eq!(err(&long).code, ErrorCode::InvalidMessage);
        assert_eq!(
            ok(r#"{"type":"ping","ref":-3}"#).reference.map(RawValue::get),
            Some("-3")
        );
        // `null` means no ref.
        assert!(ok(r#"{"type":"ping","ref":null}"#).reference.is_none());
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "\u{0}",
            "{\"type\":\"\u{FFFF}\"}",
            "{\"type\":null}",
            "{\"type\":1}",
            "{\"type\":\"call.start\",\"calleeId\":null}",
            "{\"type\":\"ping\",\"ref\":\"",
            "{\"type\":\"call.start\",\"calleeId\":\"\\ud800\"}",
        ];
        for s in samples {
            assert!(parse(s).is_err(), "{s:?} was accepted");
        }
        // Every prefix of a valid frame either parses or is refused cleanly.
        let full = r#"{"type":"rtc.signal","ref":"q","callId":"c","data":{"a":[1,{"b":"\n"}]}}"#;
        for i in 0..full.len() {
            assert!(parse(&full[..i]).is_err(), "prefix {i} was accepted");
        }
        assert!(parse(full).is_ok());
    }
}
