//! RingCentral connection (issue #12): the OAuth flow through a fake RingCentral, sealed tokens, status for every member, roles and org isolation; unconfigured providers.

use serde_json::json;

use crate::helpers::*;
use crate::integrations_support::*;

async fn connecting_stores_sealed_tokens_and_every_member_sees_the_status(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    let (status, view) = connect(&app, &fake, &admin).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "active");
    assert_eq!(view["accountId"], account());
    assert_eq!(view["orgId"], "t1");
    assert_eq!(view["connectedBy"], "ada");
    assert_eq!(fake.counts().code_exchanges, 1);

    // At rest the tokens are sealed: neither the access nor the refresh token is in the row.
    let row = app.state.store.integration("t1", "ringcentral").await.unwrap().unwrap();
    assert!(row.access_token.starts_with("v1.") && !row.access_token.contains("access"));
    let refresh = row.refresh_token.clone().unwrap();
    assert!(refresh.starts_with("v1.") && !refresh.contains("refresh"));
    let sealer = switchboard::providers::seal::Sealer::new(&KEY);
    assert!(sealer.open(&row.access_token).unwrap().contains("-access-1"));

    // A member sees the status, never a token.
    let member = token_as(&app, &agent("t1", "bo"), None);
    let (status, list) = app.get("/api/integrations", Some(&member)).await;
    assert_eq!(status, 200, "{list}");
    let only = &list["integrations"].as_array().unwrap()[..];
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["provider"], "ringcentral");
    assert_eq!(only[0]["needsReconnect"], false);
    assert!(!list.to_string().contains("v1."), "{list}");
    // …but may not connect, sync or disconnect.
    for (status, body) in [
        app.get("/api/integrations/ringcentral/connect", Some(&member)).await,
        sync(&app, &member).await,
    ] {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let resp = app
        .http
        .delete(app.url("/api/integrations/ringcentral"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);

    // Another org's admin sees none of it; naming t1 is 404, as an unknown org.
    let other = token_as(&app, &agent("t2", "eve"), Some("admin"));
    let (status, list) = app.get("/api/integrations", Some(&other)).await;
    assert_eq!((status, list["integrations"].as_array().unwrap().len()), (200, 0));
    let (status, body) = app.get("/api/integrations?orgId=t1", Some(&other)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app
        .post("/api/integrations/ringcentral/sync?orgId=t1", Some(&other), json!({}))
        .await;
    assert_eq!(status, 404);
    // The platform sees every org's.
    let (status, list) = app.get("/api/integrations", Some(&app.service_token())).await;
    assert_eq!((status, list["integrations"].as_array().unwrap().len()), (200, 1));

    // Disconnecting removes it; a second disconnect is 404.
    let del = |t: String| {
        let req = app.http.delete(app.url("/api/integrations/ringcentral")).bearer_auth(t);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(del(admin.clone()).await, 204);
    assert_eq!(del(admin.clone()).await, 404);
    let (_, list) = app.get("/api/integrations", Some(&member)).await;
    assert!(list["integrations"].as_array().unwrap().is_empty());
}

async fn a_forged_or_altered_state_attaches_nothing(b: Backend) {
    let Rc { app, fake } = rc_app(b).await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("owner"));
    let (_, body) = app.get("/api/integrations/ringcentral/connect", Some(&admin)).await;
    let url = body["authUrl"].as_str().unwrap();
    let state: String = form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // A state signed with another key, naming org t2.
    let forged = switchboard::providers::oauth_state::issue(&[7; 32], "t2", "mallory", "ringcentral", "n", now_ms());
    // t1's state with its payload swapped for t2's.
    let parts: Vec<&str> = state.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], forged.split('.').nth(1).unwrap(), parts[2]);
    for bad in [forged.as_str(), swapped.as_str(), "not-a-state"] {
        let path = format!(
            "/api/integrations/ringcentral/callback?code={}&state={bad}",
            crate::fake_ringcentral::CODE
        );
        let (status, body) = app.get(&path, None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_request");
    }
    // No code, or the user refused at RingCentral.
    let (status, _) = app
        .get(&format!("/api/integrations/ringcentral/callback?state={state}"), None)
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .get(
            "/api/integrations/ringcentral/callback?error=access_denied&error_description=User+denied",
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("access_denied"),
        "{body}"
    );
    // A bad code is RingCentral's refusal: 502 provider_error, and nothing is stored.
    let (status, body) = app
        .get(
            &format!("/api/integrations/ringcentral/callback?code=wrong&state={state}"),
            None,
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "provider_error");
    assert_eq!(fake.counts().code_exchanges, 0);
    assert!(app.state.store.integrations(None).await.unwrap().is_empty());
    // Unknown providers are 404; the platform must name the org it connects.
    let (status, _) = app.get("/api/integrations/acme/connect", Some(&admin)).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .get("/api/integrations/ringcentral/connect", Some(&app.service_token()))
        .await;
    assert_eq!(status, 400, "{body}");
    // The genuine state still works.
    let (status, view) = connect(&app, &fake, &admin).await;
    assert_eq!((status, view["orgId"].as_str()), (200, Some("t1")), "{view}");
}

async fn without_configuration_the_routes_say_unavailable(b: Backend) {
    let app = spawn_app(b).await;
    let admin = token_as(&app, &agent("t1", "ada"), Some("admin"));
    let (status, body) = app.get("/api/integrations/ringcentral/connect", Some(&admin)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, body) = app
        .post(
            "/api/integrations/mightycall/connect",
            Some(&admin),
            json!({"apiKey": "k", "userKey": "u"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    let (status, body) = app.get("/api/integrations/nosuch/connect", Some(&admin)).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get("/api/integrations", Some(&admin)).await;
    assert_eq!((status, body["integrations"].as_array().map(Vec::len)), (200, Some(0)));
}

crate::on_both_backends!(
    connecting_stores_sealed_tokens_and_every_member_sees_the_status,
    a_forged_or_altered_state_attaches_nothing,
    without_configuration_the_routes_say_unavailable,
);
