//! A server with Twilio pointed at the fake (`fake_twilio.rs`), tokens with roles, and Twilio's webhooks as Twilio sends them.

use serde_json::{Value, json};
use switchboard::phone::settings::TwilioSettings;

use crate::fake_twilio::{FakeTwilio, post_webhook, post_webhook_signed_with};
use crate::helpers::*;

/// The address Twilio is told to call (`SWITCHBOARD_PUBLIC_URL`): signatures are over it.
pub const PUBLIC: &str = "https://sb.example";
pub const HOOKS: &str = "/api/phone/webhooks/twilio";

/// `from=…&to=…`: a year around now (a usage period is at most 366 days).
pub fn around_now() -> String {
    let fmt = &time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (from, to) = (now - time::Duration::days(180), now + time::Duration::days(180));
    format!("from={}&to={}", from.format(fmt).unwrap(), to.format(fmt).unwrap())
}

pub struct Phone {
    pub app: TestApp,
    pub fake: FakeTwilio,
    pub service: String,
}

pub async fn phone_app(b: Backend) -> Phone {
    phone_app_with(b, |_| {}).await
}

/// As [`phone_app`], with the settings changed first.
pub async fn phone_app_with(b: Backend, tweak: impl FnOnce(&mut switchboard::Settings)) -> Phone {
    let fake = FakeTwilio::start().await;
    let account = fake.account();
    let app = spawn_with(b, |s| {
        tweak(s);
        s.twilio = Some(TwilioSettings {
            account,
            twiml_app_sid: Some("AP0123456789abcdef0123456789abcdef".into()),
            api_key: Some("SK0123456789abcdef0123456789abcdef".into()),
            api_secret: Some("api-secret-for-tests".into()),
            public_url: PUBLIC.into(),
        })
    })
    .await;
    let service = app.service_token();
    Phone { app, fake, service }
}

impl Phone {
    /// The token of `p` with `app_metadata.role` set.
    pub fn token_as(&self, p: &Person, role: Option<&str>) -> String {
        let mut c = claims_of(p);
        c.app_metadata.role = role.map(str::to_owned);
        self.app.mint(&c)
    }

    /// Twilio POSTing `params` to `path_and_query` (under the webhooks), signed.
    pub async fn hook(&self, path_and_query: &str, params: &[(&str, &str)]) -> (u16, String) {
        let (status, body, _) = post_webhook(
            &self.app.http,
            PUBLIC,
            &self.app.url(""),
            &format!("{HOOKS}{path_and_query}"),
            params,
        )
        .await;
        (status, body)
    }

    /// As [`Self::hook`] with the given signature (or none).
    pub async fn hook_signed(&self, path_and_query: &str, params: &[(&str, &str)], sig: Option<&str>) -> u16 {
        post_webhook_signed_with(
            &self.app.http,
            &self.app.url(""),
            &format!("{HOOKS}{path_and_query}"),
            params,
            sig,
        )
        .await
        .0
    }

    /// Registers `e164` to `org` (platform) and returns its id.
    pub async fn add_number(&self, org: &str, e164: &str) -> String {
        let (status, body) = self
            .app
            .post(
                &format!("/api/orgs/{org}/phone-numbers"),
                Some(&self.service),
                json!({"number": e164, "label": "Main line"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Assigns numbers to a member (platform).
    pub async fn assign(&self, org: &str, user: &str, ids: &[&str]) -> Value {
        let (status, body) = self
            .app
            .post(
                &format!("/api/orgs/{org}/users/{user}/phone-assignments"),
                Some(&self.service),
                json!({ "phoneNumberIds": ids }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The call row, read by the platform.
    pub async fn call(&self, id: &str) -> Value {
        let (status, body) = self
            .app
            .get(&format!("/api/phone/calls/{id}"), Some(&self.service))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The only phone call the platform sees.
    pub async fn only_call(&self) -> Value {
        let (status, body) = self.app.get("/api/phone/calls", Some(&self.service)).await;
        assert_eq!(status, 200, "{body}");
        let calls = body["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{body}");
        calls[0].clone()
    }

    /// The org's usage records of `kind` this year.
    pub async fn usage_of(&self, org: &str, kind: &str) -> Vec<Value> {
        let (status, body) = self
            .app
            .get(
                &format!("/api/phone/usage/details?orgId={org}&{}&limit=200", around_now()),
                Some(&self.service),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == kind)
            .cloned()
            .collect()
    }
}
