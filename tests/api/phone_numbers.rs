//! Numbers through Twilio's APIs: searched, provisioned with our webhooks, listed per role, relabelled, moved and released.

use serde_json::json;

use crate::helpers::*;
use crate::phone_support::*;

fn field<'a>(form: &'a [(String, String)], k: &str) -> Option<&'a str> {
    form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn numbers_are_searched_provisioned_relabelled_moved_and_released(b: Backend) {
    let p = phone_app(b).await;
    let app = &p.app;
    let t1_admin = p.token_as(&agent("t1", "boss"), Some("admin"));
    let t2_admin = p.token_as(&agent("t2", "chief"), Some("owner"));
    let ann = app.token(&agent("t1", "ann"));
    // Search: the platform only; Twilio's page comes back as our shape.
    let (s, _) = app
        .post("/api/phone/numbers/search", Some(&t1_admin), json!({"country": "US"}))
        .await;
    assert_eq!(s, 403);
    let (s, found) = app
        .post(
            "/api/phone/numbers/search",
            Some(&p.service),
            json!({"country": "us", "areaCode": "415"}),
        )
        .await;
    assert_eq!(s, 200, "{found}");
    assert!(!found["numbers"].as_array().unwrap().is_empty(), "{found}");
    assert!(found["numbers"][0]["e164"].as_str().unwrap().starts_with('+'));
    let sent = p.fake.seen();
    let (resource, query) = sent.last().unwrap();
    assert!(resource.starts_with("AvailablePhoneNumbers/US/Local"), "{resource}");
    assert_eq!(field(query, "AreaCode"), Some("415"));
    // Provision: bought with our webhooks on it.
    let buy = json!({"orgId": "t1", "number": "+1 415 555 0123", "label": "Sales"});
    assert_eq!(
        app.post("/api/phone/numbers/provision", Some(&t1_admin), buy.clone())
            .await
            .0,
        403
    );
    let (s, n) = app.post("/api/phone/numbers/provision", Some(&p.service), buy).await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(
        (n["e164"].as_str(), n["orgId"].as_str()),
        (Some("+14155550123"), Some("t1"))
    );
    assert_eq!(n["providerSid"], "PN00000000000000000000014155550123");
    assert_eq!((n["voice"].as_bool(), n["sms"].as_bool()), (Some(true), Some(true)));
    let form = &p.fake.seen_of("IncomingPhoneNumbers.json")[0];
    assert_eq!(field(form, "PhoneNumber"), Some("+14155550123"));
    assert_eq!(field(form, "VoiceUrl"), Some(format!("{PUBLIC}{HOOKS}/voice").as_str()));
    assert_eq!(field(form, "SmsUrl"), Some(format!("{PUBLIC}{HOOKS}/sms").as_str()));
    assert_eq!(
        field(form, "StatusCallback"),
        Some(format!("{PUBLIC}{HOOKS}/status").as_str())
    );
    let again = json!({"orgId": "t2", "number": "+14155550123"});
    let (s, body) = app.post("/api/phone/numbers/provision", Some(&p.service), again).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    let gone = json!({"orgId": "t1", "number": "+14155550999"});
    let (s, body) = app.post("/api/phone/numbers/provision", Some(&p.service), gone).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (502, Some("provider_error")),
        "{body}"
    );
    let id = n["id"].as_str().unwrap().to_owned();
    let one = format!("/api/phone/numbers/{id}");
    // Listing: the platform and t1's admin see it; Ann only once it is assigned; t2 never.
    for (who, want) in [(&p.service, 1), (&t1_admin, 1), (&ann, 0), (&t2_admin, 0)] {
        let (s, body) = app.get("/api/phone/numbers", Some(who)).await;
        assert_eq!(
            (s, body["phoneNumbers"].as_array().map(Vec::len)),
            (200, Some(want)),
            "{body}"
        );
    }
    p.assign("t1", "ann", &[&id]).await;
    let (_, body) = app.get("/api/phone/numbers", Some(&ann)).await;
    assert_eq!(body["phoneNumbers"][0]["id"], id.as_str());
    assert_eq!(app.get(&one, Some(&t2_admin)).await.0, 404);
    // PATCH: the label is the org admin's; a member may not; another org's admin does not see it.
    let patch = |token: &str, body: serde_json::Value| {
        app.http
            .patch(app.url(&one))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    assert_eq!(patch(&ann, json!({"label": "Mine"})).await.unwrap().status(), 403);
    assert_eq!(patch(&t2_admin, json!({"label": "Ours"})).await.unwrap().status(), 404);
    let r = patch(&t1_admin, json!({"label": "Support"})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["label"], "Support");
    assert_eq!(
        patch(&t1_admin, json!({"orgId": "t2"})).await.unwrap().status(),
        403,
        "moving is the platform's"
    );
    let r = patch(&p.service, json!({"orgId": "t2"})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["orgId"], "t2");
    let (_, body) = app.get("/api/phone/numbers", Some(&ann)).await;
    assert_eq!(body["phoneNumbers"], json!([]), "a move drops the assignments: {body}");
    // DELETE: t1's admin no longer sees it; t2's sees it but releasing (at Twilio, for good) is the platform's.
    let delete = |token: &str| app.http.delete(app.url(&one)).bearer_auth(token.to_owned()).send();
    assert_eq!(delete(&t1_admin).await.unwrap().status(), 404);
    assert_eq!(delete(&t2_admin).await.unwrap().status(), 403);
    assert_eq!(p.fake.owned().len(), 1);
    assert_eq!(delete(&p.service).await.unwrap().status(), 204);
    assert!(p.fake.owned().is_empty(), "released at Twilio");
    assert_eq!(app.get(&one, Some(&p.service)).await.0, 404);
    assert_eq!(delete(&p.service).await.unwrap().status(), 404);
    // A registered number's sid must be Twilio's.
    let bad = json!({"number": "+14155550142", "providerSid": "PN123"});
    let (s, body) = app.post("/api/orgs/t1/phone-numbers", Some(&p.service), bad).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
}

/// A number moved to another org is billed to it from the move, not from the number's first day.
async fn a_moved_number_is_billed_to_its_new_org_from_the_move(b: Backend) {
    use switchboard::store::PhoneNumber;
    let p = phone_app(b).await;
    let now = switchboard::clock::now_ms();
    let day = 86_400_000;
    let number = PhoneNumber {
        id: "01900000-0000-7000-8000-0000000000c1".into(),
        org_id: "t1".into(),
        e164: "+14155550100".into(),
        provider: "twilio".into(),
        provider_sid: None,
        label: None,
        voice: true,
        sms: true,
        created_at: now - 100 * day,
        released_at: None,
    };
    p.app.state.telephony.store().insert_number(&number).await.unwrap();
    let months = |org: &'static str| {
        let p = &p;
        async move {
            let (s, body) = p
                .app
                .get(
                    &format!("/api/phone/usage/summary?orgId={org}&{}", around_now()),
                    Some(&p.service),
                )
                .await;
            assert_eq!(s, 200, "{body}");
            body["usage"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["kind"] == "number_months")
                .map_or(0, |u| u["quantity"].as_i64().unwrap())
        }
    };
    let held = months("t1").await;
    assert!((4..=5).contains(&held), "100 days touch 4 or 5 calendar months: {held}");
    let r = p
        .app
        .http
        .patch(p.app.url(&format!("/api/phone/numbers/{}", number.id)))
        .bearer_auth(&p.service)
        .json(&json!({"orgId": "t2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(months("t2").await, 1, "only the month of the move");
    assert_eq!(months("t1").await, held, "what t1 was billed stays");
}

crate::on_both_backends!(
    numbers_are_searched_provisioned_relabelled_moved_and_released,
    a_moved_number_is_billed_to_its_new_org_from_the_move,
);
