//! The media test client lives in the load generator (`switchboard_loadtest::rtc_client`); this opens it for a test app.

use crate::helpers::{Person, TestApp};
pub use switchboard_loadtest::rtc_client::RtcClient;

/// Joins `call_id`'s media as `who` on its own socket, keeping every frame the server sends it.
pub async fn join(app: &TestApp, who: &Person, call_id: &str, ssrc: u32, expect_tag: u8) -> RtcClient {
    let url = format!("ws://{}/api/voip/ws?access_token={}", app.addr, app.token(who));
    RtcClient::join(&url, call_id, ssrc, expect_tag, true)
        .await
        .expect("media client joins")
}
