//! A server with RingCentral pointed at the fake (`fake_ringcentral.rs`), an org admin's token, and the connect flow as a browser walks it.

use serde_json::Value;
use switchboard::config::IntegrationSettings;
use switchboard::providers::ringcentral::RingCentralSettings;
use switchboard::providers::seal::Sealer;

use crate::fake_ringcentral::{ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, FakeRingCentral, Rec};
use crate::helpers::*;

/// Where RingCentral is told to send the browser back (the app's public address).
pub const PUBLIC: &str = "https://sb.example";
pub const KEY: [u8; 32] = [42; 32];
/// Records per page the tests ask for (small, so a few records make pages).
pub const PER_PAGE: u32 = 3;

pub struct Rc {
    pub app: TestApp,
    pub fake: FakeRingCentral,
}

pub fn settings_for(fake: &FakeRingCentral, s: &mut switchboard::Settings) {
    let sync = switchboard::integrations::SyncSettings {
        // No scheduled sync during a test: each is asked for.
        tick: std::time::Duration::from_secs(3600),
        requests_per_minute: 6_000,
        max_retry_after: std::time::Duration::from_secs(5),
        ..Default::default()
    };
    s.integrations = IntegrationSettings {
        sealer: Some(Sealer::new(&KEY)),
        ringcentral: Some(RingCentralSettings {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            server_url: fake.url.clone(),
            redirect_url: format!("{PUBLIC}/api/integrations/ringcentral/callback"),
            page_size: PER_PAGE,
        }),
        mightycall: None,
        sync,
    };
}

pub async fn rc_app(b: Backend) -> Rc {
    rc_app_with(b, |_| {}).await
}

/// As [`rc_app`], with the settings changed after.
pub async fn rc_app_with(b: Backend, tweak: impl FnOnce(&mut switchboard::Settings)) -> Rc {
    let fake = FakeRingCentral::start().await;
    let app = spawn_with(b, |s| {
        settings_for(&fake, s);
        tweak(s);
    })
    .await;
    Rc { app, fake }
}

/// `p`'s token with `app_metadata.role`.
pub fn token_as(app: &TestApp, p: &Person, role: Option<&str>) -> String {
    let mut c = claims_of(p);
    c.app_metadata.role = role.map(str::to_owned);
    app.mint(&c)
}

/// The admin's browser: connect → the provider's authorize page → its redirect to our callback. Returns the callback's answer.
pub async fn connect(app: &TestApp, fake: &FakeRingCentral, admin: &str) -> (u16, Value) {
    let (status, body) = app.get("/api/integrations/ringcentral/connect", Some(admin)).await;
    assert_eq!(status, 200, "{body}");
    let auth_url = body["authUrl"].as_str().unwrap();
    assert!(
        auth_url.starts_with(&format!("{}/restapi/oauth/authorize?", fake.url)),
        "{auth_url}"
    );
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect.get(auth_url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let back = location.replace(PUBLIC, &app.url(""));
    assert!(
        back.starts_with(&app.url("/api/integrations/ringcentral/callback?")),
        "{back}"
    );
    let resp = app.http.get(back).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A call in the fake's log, `minutes_ago` before now.
pub fn rec(id: &str, minutes_ago: i64, direction: &'static str, result: &str) -> Rec {
    let start = now_ms() - minutes_ago * 60_000;
    let (from, from_ext, to, to_ext) = if direction == "Inbound" {
        (
            Some("+16505550100".to_owned()),
            None,
            Some("16505550199".to_owned()),
            Some("101".to_owned()),
        )
    } else {
        (
            Some("+16505550123".to_owned()),
            Some("102".to_owned()),
            Some("+16505550111".to_owned()),
            None,
        )
    };
    Rec {
        id: id.into(),
        start_ms: start,
        duration: if result == "Accepted" { 95 } else { 0 },
        direction,
        result: result.into(),
        from,
        from_ext,
        to,
        to_ext,
        modified_ms: start + 120_000,
    }
}

pub fn now_ms() -> i64 {
    switchboard::clock::now_ms()
}

/// `POST /api/integrations/ringcentral/sync` as `token`.
pub async fn sync(app: &TestApp, token: &str) -> (u16, Value) {
    app.post("/api/integrations/ringcentral/sync", Some(token), serde_json::json!({}))
        .await
}

/// The calls synced from `provider` that `token` may see, by external id.
pub async fn synced_from(app: &TestApp, token: &str, provider: &str) -> std::collections::HashMap<String, Value> {
    let (status, page) = app.get("/api/phone/calls?limit=100", Some(token)).await;
    assert_eq!(status, 200, "{page}");
    page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["provider"] == provider)
        .map(|c| (c["externalId"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

pub fn account() -> &'static str {
    ACCOUNT_ID
}
