//! TwiML: the XML switchboard answers Twilio's voice webhooks with, written as Twilio's own `VoiceResponse` writes it.
//!
//! A document is a `<Response>` of verbs; attributes come out sorted by
//! name, text and attribute values escaped, empty elements as `<X />`.
//! Pinned byte for byte by golden documents from Twilio's helper library
//! (`tests/golden/twiml.json`).

use std::fmt::Write;

/// One element: a verb or a noun inside one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    text: Option<String>,
    children: Vec<Node>,
}

impl Node {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }

    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn child(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        let mut attrs: Vec<&(&str, String)> = self.attrs.iter().collect();
        attrs.sort_by_key(|(k, _)| *k);
        for (k, v) in attrs {
            let _ = write!(out, " {k}=\"");
            escape(v, true, out);
            out.push('"');
        }
        if self.text.is_none() && self.children.is_empty() {
            out.push_str(" />");
            return;
        }
        out.push('>');
        if let Some(t) = &self.text {
            escape(t, false, out);
        }
        for c in &self.children {
            c.write(out);
        }
        let _ = write!(out, "</{}>", self.name);
    }
}

/// XML escaping as Python's ElementTree does it (quotes only in attributes).
fn escape(s: &str, attribute: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#09;"),
            c => out.push(c),
        }
    }
}

/// A whole document: `<Response>` and its verbs.
pub fn response(verbs: impl IntoIterator<Item = Node>) -> String {
    let mut root = Node::new("Response");
    root.children = verbs.into_iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    root.write(&mut out);
    out
}

/// Rings softphone `clients` (their identities) for `timeout_secs`; Twilio then requests `action`.
/// With `answered`, the softphone that answers reports it there (its `To` is `client:<identity>`).
pub fn dial_clients<'a>(
    clients: impl IntoIterator<Item = &'a str>,
    timeout_secs: u32,
    action: &str,
    answered: Option<&str>,
) -> String {
    let dial = clients.into_iter().fold(
        Node::new("Dial")
            .attr("timeout", timeout_secs.to_string())
            .attr("action", action),
        |d, c| {
            let mut client = Node::new("Client");
            if let Some(cb) = answered {
                client = client
                    .attr("statusCallbackEvent", "answered completed")
                    .attr("statusCallbackMethod", "POST")
                    .attr("statusCallback", cb);
            }
            d.child(client.text(c))
        },
    );
    response([dial])
}

/// Dials `number` (E.164) showing `caller_id`; with `recording_callback`, records both legs from the answer.
pub fn dial_number(caller_id: &str, number: &str, recording_callback: Option<&str>) -> String {
    dial_number_then(caller_id, number, recording_callback, None)
}

/// As [`dial_number`]; with `action`, Twilio reports the dial's outcome there (`DialCallStatus`, `DialCallDuration`).
pub fn dial_number_then(
    caller_id: &str,
    number: &str,
    recording_callback: Option<&str>,
    action: Option<&str>,
) -> String {
    let mut dial = Node::new("Dial").attr("callerId", caller_id);
    if let Some(a) = action {
        dial = dial.attr("action", a);
    }
    if let Some(cb) = recording_callback {
        dial = dial
            .attr("record", "record-from-answer-dual")
            .attr("recordingStatusCallback", cb);
    }
    response([dial.child(Node::new("Number").text(number))])
}

/// Says `prompt`, records up to `max_secs` after a beep, hangs up; the recording is reported to `recording_callback`.
pub fn voicemail(prompt: &str, max_secs: u32, recording_callback: &str) -> String {
    response([
        Node::new("Say").text(prompt),
        Node::new("Record")
            .attr("maxLength", max_secs.to_string())
            .attr("playBeep", "true")
            .attr("recordingStatusCallback", recording_callback),
        Node::new("Hangup"),
    ])
}

/// Refuses the call (a number nobody may use, a caller not allowed).
pub fn reject() -> String {
    response([Node::new("Reject")])
}

/// Says `text`, then hangs up.
pub fn say_and_hang_up(text: &str) -> String {
    response([Node::new("Say").text(text), Node::new("Hangup")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Deserialize)]
    struct Golden {
        tricky: String,
        docs: BTreeMap<String, String>,
    }

    #[test]
    fn documents_are_byte_for_byte_what_twilios_library_writes() {
        let g: Golden = serde_json::from_str(include_str!("../../tests/golden/twiml.json")).unwrap();
        let base = "https://sb.example/api/phone/webhooks/twilio";
        let ours: BTreeMap<String, String> = [
            (
                "dial_clients",
                dial_clients(
                    ["user-1", "user-<2>&\"x\""],
                    20,
                    &format!("{base}/voice?step=after-dial&callId=c1"),
                    None,
                ),
            ),
            (
                "dial_number_action",
                dial_number_then(
                    "+14155550100",
                    "+442079460958",
                    None,
                    Some(&format!("{base}/voice?step=after-dial&callId=c2")),
                ),
            ),
            (
                "dial_clients_reporting",
                dial_clients(
                    ["user-1", "user-2"],
                    20,
                    &format!("{base}/voice?step=after-dial&callId=c1"),
                    Some(&format!("{base}/status?callId=c1&leg=agent")),
                ),
            ),
            (
                "dial_number_recorded",
                dial_number(
                    "+14155550100",
                    "+442079460958",
                    Some(&format!("{base}/recording?callId=c2")),
                ),
            ),
            ("dial_number", dial_number("+14155550100", "+442079460958", None)),
            (
                "voicemail",
                voicemail(&g.tricky, 120, &format!("{base}/recording?callId=c3&kind=voicemail")),
            ),
            ("reject", reject()),
            ("say_hangup", say_and_hang_up(&g.tricky)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(ours, g.docs);
    }

    #[test]
    fn attribute_values_escape_quotes_and_newlines_text_does_not() {
        // Twilio's library on the same input (checked once by hand).
        let doc = response([Node::new("Say").attr("voice", "a\"b\nc<\t\r").text("\"q\" & 'x'")]);
        assert!(
            doc.ends_with("<Response><Say voice=\"a&quot;b&#10;c&lt;&#09;&#13;\">\"q\" &amp; 'x'</Say></Response>")
        );
        assert_eq!(response([]), "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response />");
    }
}
