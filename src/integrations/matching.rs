//! Which member of the org a synced call belongs to: by the provider extension on our side, else by our number's assignee.

use std::collections::HashMap;

use crate::error::Result;
use crate::providers::synced::SyncedCall;
use crate::store::Store;

/// A sync's memo of the org's extensions and numbers (looked up once per sync).
pub struct Matcher<'a> {
    store: &'a Store,
    org_id: String,
    extensions: HashMap<String, String>,
    /// E.164 → (number id, first assignee), `None` when not the org's.
    numbers: HashMap<String, Option<(String, Option<String>)>>,
}

impl<'a> Matcher<'a> {
    pub async fn new(store: &'a Store, org_id: &str, provider: &str) -> Result<Self> {
        Ok(Self {
            store,
            org_id: org_id.to_owned(),
            extensions: store.extensions(org_id, provider).await?.into_iter().collect(),
            numbers: HashMap::new(),
        })
    }

    /// `(member, phone_number_id)` of the call's side in the org. An extension
    /// mapped to a member wins; else the member first assigned the org's number.
    pub async fn find(&mut self, s: &SyncedCall) -> Result<(Option<String>, Option<String>)> {
        let by_extension = s.our_extension.as_ref().and_then(|e| self.extensions.get(e)).cloned();
        let number = match s.our_number() {
            Some(n) => self.number(n).await?,
            None => None,
        };
        let (number_id, assignee) = number.map_or((None, None), |(id, a)| (Some(id), a));
        Ok((by_extension.or(assignee), number_id))
    }

    async fn number(&mut self, e164: &str) -> Result<Option<(String, Option<String>)>> {
        if let Some(hit) = self.numbers.get(e164) {
            return Ok(hit.clone());
        }
        let found = match self.store.number_by_e164(e164).await? {
            Some(n) if n.org_id == self.org_id => {
                let first = self.store.assignees(&n.id).await?.into_iter().next();
                Some((n.id, first))
            }
            _ => None,
        };
        self.numbers.insert(e164.to_owned(), found.clone());
        Ok(found)
    }
}
