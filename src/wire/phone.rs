//! The phone routes' bodies and socket frames: numbers, assignments, texts, usage, invoices, `call.incoming` (pstn) and `sms.received`.

use serde::Serialize;

use super::views::iso;
use crate::model::Millis;

/// An org's number (`GET /api/orgs/{orgId}/phone-numbers`).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberView {
    pub id: String,
    pub org_id: String,
    #[schema(example = "+14155550100")]
    pub e164: String,
    pub provider: String,
    pub provider_sid: Option<String>,
    pub label: Option<String>,
    pub voice: bool,
    pub sms: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// One number a member may use.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentView {
    pub phone_number_id: String,
    #[schema(example = "+14155550100")]
    pub e164: String,
    pub label: Option<String>,
    pub user_id: String,
    pub org_id: String,
    #[schema(format = DateTime)]
    pub assigned_at: String,
}

/// A member's numbers (`GET …/phone-assignments`).
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentsView {
    pub user_id: String,
    pub org_id: String,
    pub phone_number_ids: Vec<String>,
    pub assignments: Vec<AssignmentView>,
}

/// A text thread.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub id: String,
    pub org_id: String,
    pub phone_number_id: String,
    pub our_number: String,
    pub their_number: String,
    #[schema(format = DateTime)]
    pub last_message_at: String,
}

/// One text.
#[derive(Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmsMessageView {
    pub id: String,
    pub conversation_id: String,
    /// `inbound` | `outbound`.
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub body: String,
    pub status: String,
    pub provider: String,
    pub external_id: Option<String>,
    pub segments: i64,
    pub price_micros: Option<i64>,
    pub price_unit: Option<String>,
    pub user_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `call.incoming` for a phone call ringing a member's devices.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PhoneIncomingView<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub call_id: &'a str,
    /// Always `pstn`.
    pub channel: &'static str,
    pub from: PhoneFromView<'a>,
    pub to_number: &'a str,
    pub phone_number_id: &'a str,
    /// The CRM contact the caller's number matched (`PUT /api/contacts/{id}`), or `null`.
    pub contact: Option<ContactRefView<'a>>,
    pub started_at: String,
}

/// The contact a caller's number matched.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ContactRefView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// `prospect` | `customer` | `lead`.
    #[serde(rename = "type")]
    pub kind: &'a str,
}

/// The caller of a phone call.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PhoneFromView<'a> {
    pub number: &'a str,
    pub participant_type: &'static str,
}

impl<'a> PhoneIncomingView<'a> {
    pub fn new(call_id: &'a str, from: &'a str, to: &'a str, number_id: &'a str, started_at: Millis) -> Self {
        Self {
            kind: "call.incoming",
            call_id,
            channel: "pstn",
            from: PhoneFromView {
                number: from,
                participant_type: "PHONE",
            },
            to_number: to,
            phone_number_id: number_id,
            contact: None,
            started_at: iso(started_at),
        }
    }
}

/// `sms.received`: a text arrived on one of the member's numbers.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct SmsReceivedView<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub conversation_id: &'a str,
    pub message: &'a SmsMessageView,
}

/// A frame as text (these types always serialize).
pub fn frame_text<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}
