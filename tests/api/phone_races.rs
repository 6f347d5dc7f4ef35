//! Twilio retries and races its callbacks: the same final status delivered many times at once, and answers racing hang-ups, leave one consistent row and one usage record.

use crate::helpers::*;
use crate::phone_support::*;

const OURS: &str = "+14155550100";
const THEIRS: &str = "+14155552671";

async fn concurrent_callbacks_leave_one_row_and_bill_once(b: Backend) {
    let p = phone_app(b).await;
    let number = p.add_number("t1", OURS).await;
    for u in ["ann", "bob"] {
        p.assign("t1", u, &[&number]).await;
    }
    let _ann = p.app.connect(&agent("t1", "ann")).await;
    let _bob = p.app.connect(&agent("t1", "bob")).await;
    for round in 0..3 {
        let sid = format!("CA{round:032}");
        let (status, twiml) = p
            .hook("/voice", &[("CallSid", &sid), ("From", THEIRS), ("To", OURS)])
            .await;
        assert_eq!(status, 200, "{twiml}");
        let (_, list) = p.app.get("/api/phone/calls?limit=1", Some(&p.service)).await;
        let id = list["calls"][0]["id"].as_str().unwrap().to_owned();
        // Both softphones report an answer at once, and the parent's completion is delivered 8 times at once.
        let agent_q = format!("/status?callId={id}&leg=agent");
        let mut hooks = Vec::new();
        for who in ["client:ann", "client:bob"] {
            let (p, q, sid) = (&p, agent_q.clone(), sid.clone());
            hooks.push(Box::pin(async move {
                let params = [
                    ("CallSid", "CA99999999999999999999999999999999"),
                    ("ParentCallSid", sid.as_str()),
                    ("CallStatus", "in-progress"),
                    ("To", who),
                ];
                p.hook(&q, &params).await.0
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send + '_>>);
        }
        let answered: Vec<u16> = futures_util::future::join_all(hooks).await;
        assert_eq!(answered, [204, 204]);
        let row = p.call(&id).await;
        assert_eq!(row["status"], "ACTIVE");
        let taker = row["toUserId"].as_str().unwrap().to_owned();
        assert!(taker == "ann" || taker == "bob", "{row}");
        let done = [
            ("CallSid", sid.as_str()),
            ("CallStatus", "completed"),
            ("CallDuration", "75"),
            ("Price", "-0.01700"),
            ("PriceUnit", "USD"),
        ];
        let statuses = futures_util::future::join_all((0..8).map(|_| p.hook("/status", &done))).await;
        assert!(statuses.iter().all(|(s, _)| *s == 204), "{statuses:?}");
        let row = p.call(&id).await;
        assert_eq!(row["status"], "COMPLETED", "{row}");
        assert_eq!(row["toUserId"], taker.as_str(), "the first answer holds");
        assert_eq!(row["priceMicros"], 17_000);
    }
    let usage = p.usage_of("t1", "call_minutes_inbound").await;
    assert_eq!(usage.len(), 3, "one record per call: {usage:?}");
    assert!(
        usage.iter().all(|u| u["quantity"] == 2),
        "75 s is two started minutes: {usage:?}"
    );
}

crate::on_both_backends!(concurrent_callbacks_leave_one_row_and_bill_once);
