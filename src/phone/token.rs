//! The Twilio Voice access token a browser softphone connects with: a JWT (HS256, `cty: twilio-fpa;v=1`) signed with an API key's secret.
//!
//! Claims as Twilio's helper library makes them: `jti` = `<api key>-<now>`,
//! `iss` = the API key, `sub` = the account, `nbf` = now, `exp` = now + ttl,
//! `grants.identity` and `grants.voice` (incoming allowed, outgoing through
//! the TwiML app). Pinned by decoding one made by the library beside ours
//! (`tests/golden/twilio_token.json`). The clock is the caller's.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// What a token is made from. The secret is never printed.
pub struct VoiceTokenSpec<'a> {
    pub account_sid: &'a str,
    pub api_key: &'a str,
    pub api_secret: &'a str,
    pub twiml_app_sid: &'a str,
    pub identity: &'a str,
    /// Unix seconds.
    pub now: i64,
    pub ttl_secs: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub jti: String,
    pub grants: Grants,
    pub iss: String,
    pub exp: i64,
    pub nbf: i64,
    pub sub: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Grants {
    pub voice: VoiceGrant,
    pub identity: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct VoiceGrant {
    pub incoming: Incoming,
    pub outgoing: Outgoing,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Incoming {
    pub allow: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Outgoing {
    pub application_sid: String,
}

/// The claims of a softphone token.
pub fn claims(spec: &VoiceTokenSpec<'_>) -> Claims {
    Claims {
        jti: format!("{}-{}", spec.api_key, spec.now),
        grants: Grants {
            voice: VoiceGrant {
                incoming: Incoming { allow: true },
                outgoing: Outgoing {
                    application_sid: spec.twiml_app_sid.to_owned(),
                },
            },
            identity: spec.identity.to_owned(),
        },
        iss: spec.api_key.to_owned(),
        exp: spec.now + spec.ttl_secs,
        nbf: spec.now,
        sub: spec.account_sid.to_owned(),
    }
}

/// The signed token.
pub fn voice_token(spec: &VoiceTokenSpec<'_>) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::HS256);
    header.cty = Some("twilio-fpa;v=1".to_owned());
    jsonwebtoken::encode(
        &header,
        &claims(spec),
        &EncodingKey::from_secret(spec.api_secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    #[derive(Deserialize)]
    struct Golden {
        now: i64,
        account_sid: String,
        api_key: String,
        api_secret: String,
        identity: String,
        ttl: i64,
        app_sid: String,
        jwt: String,
        header: Value,
        payload: Value,
    }

    fn part(jwt: &str, i: usize) -> Value {
        let seg = jwt.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
    }

    #[test]
    fn our_token_decodes_to_what_twilios_library_makes() {
        let g: Golden = serde_json::from_str(include_str!("../../tests/golden/twilio_token.json")).unwrap();
        let spec = VoiceTokenSpec {
            account_sid: &g.account_sid,
            api_key: &g.api_key,
            api_secret: &g.api_secret,
            twiml_app_sid: &g.app_sid,
            identity: &g.identity,
            now: g.now,
            ttl_secs: g.ttl,
        };
        let ours = voice_token(&spec).unwrap();
        assert_eq!(part(&ours, 0), g.header);
        assert_eq!(part(&ours, 1), g.payload);
        // Theirs verifies with the same secret and decodes to our claims.
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let theirs = jsonwebtoken::decode::<Claims>(
            &g.jwt,
            &jsonwebtoken::DecodingKey::from_secret(g.api_secret.as_bytes()),
            &v,
        )
        .unwrap();
        assert_eq!(theirs.claims, claims(&spec));
        assert!(jsonwebtoken::decode::<Claims>(&g.jwt, &jsonwebtoken::DecodingKey::from_secret(b"wrong"), &v).is_err());
    }
}
