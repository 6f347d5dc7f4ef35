//! How many segments an SMS body is billed as: GSM-7 when every character is in the GSM 03.38 alphabet, else UCS-2.
//!
//! As Twilio documents it: GSM-7 fits 160 septets in one message, 153 per
//! segment once split (the rest is the concatenation header); a character of
//! the extension table (`^{}\[~]|€`, form feed) takes two septets and is
//! never split across segments. UCS-2 fits 70 UTF-16 units in one message,
//! 67 per segment once split; a character outside the BMP takes two units
//! and is never split either.

/// The encoding a body goes out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// Septets per GSM-7 message / per segment of a split one.
pub const GSM7_SINGLE: usize = 160;
pub const GSM7_SEGMENT: usize = 153;
/// UTF-16 units per UCS-2 message / per segment of a split one.
pub const UCS2_SINGLE: usize = 70;
pub const UCS2_SEGMENT: usize = 67;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// The septets `c` takes in GSM-7, or `None` if it is not in the alphabet.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The body's encoding and its segment count (0 for an empty body).
pub fn segments(body: &str) -> (Encoding, u32) {
    let gsm: Option<Vec<usize>> = body.chars().map(gsm7_septets).collect();
    let (encoding, sizes, single, per_segment) = match gsm {
        Some(sizes) => (Encoding::Gsm7, sizes, GSM7_SINGLE, GSM7_SEGMENT),
        None => (
            Encoding::Ucs2,
            body.chars().map(char::len_utf16).collect(),
            UCS2_SINGLE,
            UCS2_SEGMENT,
        ),
    };
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return (encoding, 0);
    }
    if total <= single {
        return (encoding, 1);
    }
    // Pack characters whole into segments.
    let (mut count, mut used) = (1u32, 0usize);
    for size in sizes {
        if used + size > per_segment {
            count += 1;
            used = 0;
        }
        used += size;
    }
    (encoding, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_bodies_fit_160_then_153_per_segment() {
        assert_eq!(segments(""), (Encoding::Gsm7, 0));
        assert_eq!(segments("Hello, world! @£$ ÄÖÜ"), (Encoding::Gsm7, 1));
        let a = |k: usize| "a".repeat(k);
        assert_eq!(segments(&a(160)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&a(161)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&a(306)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&a(307)), (Encoding::Gsm7, 3));
        assert_eq!(segments(&a(459)), (Encoding::Gsm7, 3));
        assert_eq!(segments(&a(460)), (Encoding::Gsm7, 4));
    }

    #[test]
    fn extension_characters_take_two_septets_and_are_not_split() {
        assert_eq!(segments(&"€".repeat(80)), (Encoding::Gsm7, 1), "160 septets");
        assert_eq!(segments(&format!("{}a", "€".repeat(80))), (Encoding::Gsm7, 2));
        // 152 septets, then a two-septet character: it starts the next segment.
        let body = format!("{}{}{}", "a".repeat(152), "{", "a".repeat(10));
        assert_eq!(segments(&body), (Encoding::Gsm7, 2));
        let body = format!("{}{}{}", "a".repeat(152), "{", "a".repeat(152));
        assert_eq!(segments(&body), (Encoding::Gsm7, 3), "152 | 2+151 | 1");
    }

    #[test]
    fn anything_else_is_ucs2_70_then_67() {
        assert_eq!(segments("Привет"), (Encoding::Ucs2, 1));
        assert_eq!(
            segments("price: 5 ₹"),
            (Encoding::Ucs2, 1),
            "one character outside GSM-7 makes the whole body UCS-2"
        );
        let zh = |k: usize| "Ж".repeat(k);
        assert_eq!(segments(&zh(70)), (Encoding::Ucs2, 1));
        assert_eq!(segments(&zh(71)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&zh(134)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&zh(135)), (Encoding::Ucs2, 3));
        // Emoji are two UTF-16 units each, never split: 33 per segment.
        assert_eq!(segments(&"👋".repeat(35)), (Encoding::Ucs2, 1), "70 units");
        assert_eq!(segments(&"👋".repeat(36)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"👋".repeat(66)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"👋".repeat(67)), (Encoding::Ucs2, 3));
    }
}
