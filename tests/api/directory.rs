//! Whom one can call: the tenant's directory (`GET /api/voip/participants`), and names on both sides of a call.

use serde_json::{Value, json};

use crate::helpers::*;

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap())
        .collect()
}

async fn agents_find_customers_and_customers_find_only_agents(b: Backend) {
    let app = spawn_app(b).await;
    let ann = agent("t1", "ann");
    // Everyone who ever signed in is in the directory; one customer is online.
    for p in [
        customer("t1", "carol"),
        customer("t1", "dan"),
        customer("t2", "carol"),
        agent("t1", "bob"),
    ] {
        assert_eq!(app.get("/api/voip/history", Some(&app.token(&p))).await.0, 200);
    }
    let _carol_online = app.connect(&customer("t1", "carol")).await;
    let token = app.token(&ann);
    let (status, list) = app
        .get("/api/voip/participants?type=PORTAL_CUSTOMER", Some(&token))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), ["carol", "dan"], "by name, this tenant only");
    assert_eq!(list[0]["displayName"], "Customer carol Tester");
    assert_eq!(
        list[0]["status"], "available",
        "online (customers have no availability)"
    );
    assert_eq!(list[1]["status"], "offline");
    // Search: name, email or id, case-insensitive; LIKE characters are literal.
    for (q, want) in [
        ("DAN", vec!["dan"]),
        ("carol@", vec!["carol"]),
        ("tester", vec!["carol", "dan"]),
        ("%", vec![]),
        ("_", vec![]),
    ] {
        let (_, found) = app
            .get(
                &format!("/api/voip/participants?type=PORTAL_CUSTOMER&q={}", urlencode(q)),
                Some(&token),
            )
            .await;
        assert_eq!(ids(&found), want, "q={q}");
    }
    let (_, one) = app
        .get("/api/voip/participants?type=PORTAL_CUSTOMER&limit=1", Some(&token))
        .await;
    assert_eq!(ids(&one), ["carol"]);
    // The caller is never listed.
    let (_, agents) = app.get("/api/voip/participants?type=CRM_USER", Some(&token)).await;
    assert_eq!(ids(&agents), ["bob"]);
    // Customers may list agents, not other customers.
    let cust = app.token(&customer("t1", "dan"));
    let (status, list) = app.get("/api/voip/participants?type=CRM_USER", Some(&cust)).await;
    assert_eq!((status, ids(&list)), (200, vec!["ann", "bob"]));
    let (status, body) = app
        .get("/api/voip/participants?type=PORTAL_CUSTOMER", Some(&cust))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    for bad in ["type=ROBOT", "", "type=CRM_USER&limit=0", "type=CRM_USER&limit=101"] {
        let (status, body) = app.get(&format!("/api/voip/participants?{bad}"), Some(&token)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }
    let long = "x".repeat(101);
    let (status, _) = app
        .get(&format!("/api/voip/participants?type=CRM_USER&q={long}"), Some(&token))
        .await;
    assert_eq!(status, 400);
    assert_eq!(app.get("/api/voip/participants?type=CRM_USER", None).await.0, 401);
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn a_call_carries_both_names_and_an_agent_can_call_a_customer(b: Backend) {
    let app = spawn_app(b).await;
    let (ann, carol) = (agent("t1", "ann"), customer("t1", "carol"));
    let mut aw = app.connect(&ann).await;
    let mut cw = app.connect(&carol).await;
    // The agent calls the customer (the other direction).
    let ack = aw.request(json!({"type": "call.start", "calleeId": "carol"})).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["call"]["callerName"], "Agent ann Tester");
    assert_eq!(ack["call"]["calleeName"], "Customer carol Tester");
    let incoming = cw.next_of("call.incoming").await;
    assert_eq!(incoming["from"]["name"], "Agent ann Tester");
    let id = ack["call"]["id"].as_str().unwrap().to_owned();
    cw.request(json!({"type": "call.accept", "callId": id})).await;
    cw.request(json!({"type": "call.end", "callId": id})).await;
    for p in [&ann, &carol] {
        let (_, history) = app.get("/api/voip/history", Some(&app.token(p))).await;
        assert_eq!(history[0]["callerName"], "Agent ann Tester");
        assert_eq!(history[0]["calleeName"], "Customer carol Tester");
        assert_eq!(history[0]["status"], "COMPLETED");
    }
}

crate::on_both_backends!(
    agents_find_customers_and_customers_find_only_agents,
    a_call_carries_both_names_and_an_agent_can_call_a_customer,
);
