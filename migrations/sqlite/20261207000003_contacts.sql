-- The CRM's contacts (pushed by the CRM), their numbers, and manual notes on their timeline (docs/contacts.md).
CREATE TABLE contacts (
    org_id         TEXT   NOT NULL,
    id             TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    -- prospect | customer | lead
    kind           TEXT   NOT NULL,
    portal_user_id TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX contacts_portal ON contacts (org_id, portal_user_id);

-- E.164. Matching is done when read, so a changed number re-matches the whole history.
CREATE TABLE contact_numbers (
    org_id     TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    e164       TEXT NOT NULL,
    PRIMARY KEY (org_id, contact_id, e164)
);
CREATE INDEX contact_numbers_e164 ON contact_numbers (org_id, e164);

CREATE TABLE contact_notes (
    id         TEXT   NOT NULL PRIMARY KEY,
    org_id     TEXT   NOT NULL,
    contact_id TEXT   NOT NULL,
    author_id  TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX contact_notes_contact ON contact_notes (org_id, contact_id, created_at);

CREATE INDEX calls_by_from_number ON calls (tenant_id, from_number) WHERE from_number IS NOT NULL;
CREATE INDEX calls_by_to_number ON calls (tenant_id, to_number) WHERE to_number IS NOT NULL;
CREATE INDEX sms_messages_numbers ON sms_messages (org_id, from_number, to_number);
