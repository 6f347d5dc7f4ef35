//! Phone numbers in E.164 (`+14155552671`): parsed and validated with the `phonenumber` crate (libphonenumber's metadata).
//!
//! Pinned by a table checked against Google's Python `phonenumbers`
//! (`tests/golden/e164.json`).

use phonenumber::Mode;
use phonenumber::country::Id;

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    /// Not a phone number at all (or a region code that is not one).
    Unparsable,
    /// It parses, but no such number can exist (wrong length, unused range).
    Invalid,
}

impl std::fmt::Display for NumberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unparsable => "not a phone number; give it in E.164 (+14155552671) or with a region",
            Self::Invalid => "not a valid phone number for its country",
        })
    }
}

/// `text` in E.164. Without a leading `+`, `region` (ISO 3166 alpha-2, as
/// `US`) says which country's national format it is in.
pub fn normalize(text: &str, region: Option<&str>) -> Result<String, NumberError> {
    let region = match region {
        Some(r) => Some(r.parse::<Id>().map_err(|_| NumberError::Unparsable)?),
        None => None,
    };
    let number = phonenumber::parse(region, text).map_err(|_| NumberError::Unparsable)?;
    if !phonenumber::is_valid(&number) {
        return Err(NumberError::Invalid);
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Golden {
        rows: Vec<Row>,
    }

    #[derive(serde::Deserialize)]
    struct Row {
        input: String,
        region: Option<String>,
        e164: Option<String>,
    }

    #[test]
    fn numbers_normalize_as_pythons_phonenumbers_does() {
        let g: Golden = serde_json::from_str(include_str!("../../tests/golden/e164.json")).unwrap();
        assert!(g.rows.len() >= 30);
        let mut wrong = Vec::new();
        for r in &g.rows {
            let got = normalize(&r.input, r.region.as_deref()).ok();
            if got != r.e164 {
                wrong.push(format!(
                    "{:?} ({:?}): ours {got:?}, phonenumbers {:?}",
                    r.input, r.region, r.e164
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(normalize("not a number", Some("US")), Err(NumberError::Unparsable));
        assert_eq!(normalize("+1 415 555 2671", Some("XX")), Err(NumberError::Unparsable));
        assert_eq!(normalize("+1 415 555 267", None), Err(NumberError::Invalid));
        assert_eq!(normalize("+14155552671", Some("GB")).as_deref(), Ok("+14155552671"));
    }
}
