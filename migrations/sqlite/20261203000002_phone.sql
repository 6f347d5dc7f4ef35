-- Phone calls and texts (Twilio), orgs' numbers and their assignments, usage,
-- plans and invoices. Money is integer: prices in millionths of the currency
-- unit (`*_micros`), invoice amounts in minor units (`*_minor`).

-- One CallLog for in-app and phone calls.
ALTER TABLE calls ADD COLUMN channel TEXT NOT NULL DEFAULT 'in_app';
ALTER TABLE calls ADD COLUMN provider TEXT;
ALTER TABLE calls ADD COLUMN external_id TEXT;
ALTER TABLE calls ADD COLUMN direction TEXT;
ALTER TABLE calls ADD COLUMN from_number TEXT;
ALTER TABLE calls ADD COLUMN to_number TEXT;
ALTER TABLE calls ADD COLUMN phone_number_id TEXT;
ALTER TABLE calls ADD COLUMN price_micros INTEGER;
ALTER TABLE calls ADD COLUMN price_unit TEXT;
ALTER TABLE calls ADD COLUMN provider_status TEXT;
ALTER TABLE calls ADD COLUMN recording_sid TEXT;
ALTER TABLE calls ADD COLUMN recording_seconds INTEGER;
ALTER TABLE calls ADD COLUMN voicemail INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX calls_external ON calls (provider, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX calls_by_number ON calls (phone_number_id, id) WHERE phone_number_id IS NOT NULL;

-- Phone calls hold no lines: the provider, not switchboard, says when they are busy.
DROP TRIGGER calls_take_lines;
CREATE TRIGGER calls_take_lines AFTER INSERT ON calls
WHEN NEW.status IN ('RINGING', 'ACTIVE') AND NEW.channel = 'in_app'
BEGIN
    INSERT INTO call_lines (tenant_id, user_id, call_id) VALUES (NEW.tenant_id, NEW.from_user_id, NEW.id);
    INSERT INTO call_lines (tenant_id, user_id, call_id) VALUES (NEW.tenant_id, NEW.to_user_id, NEW.id);
END;

CREATE TABLE phone_numbers (
    id           TEXT    NOT NULL PRIMARY KEY,
    org_id       TEXT    NOT NULL,
    e164         TEXT    NOT NULL,
    provider     TEXT    NOT NULL,
    provider_sid TEXT,
    label        TEXT,
    voice        INTEGER NOT NULL DEFAULT 1,
    sms          INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    released_at  INTEGER
);
-- A number belongs to at most one org while it is held.
CREATE UNIQUE INDEX phone_numbers_live ON phone_numbers (e164) WHERE released_at IS NULL;
CREATE INDEX phone_numbers_org ON phone_numbers (org_id, id);

CREATE TABLE phone_assignments (
    phone_number_id TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (phone_number_id, user_id)
) WITHOUT ROWID;
CREATE INDEX phone_assignments_user ON phone_assignments (org_id, user_id);

CREATE TABLE sms_conversations (
    id              TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL,
    phone_number_id TEXT    NOT NULL,
    our_number      TEXT    NOT NULL,
    their_number    TEXT    NOT NULL,
    last_message_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (org_id, phone_number_id, their_number)
);
CREATE INDEX sms_conversations_org ON sms_conversations (org_id, last_message_at);

CREATE TABLE sms_messages (
    id              TEXT    NOT NULL PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    direction       TEXT    NOT NULL,
    from_number     TEXT    NOT NULL,
    to_number       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    external_id     TEXT,
    segments        INTEGER NOT NULL,
    price_micros    INTEGER,
    price_unit      TEXT,
    user_id         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX sms_messages_external ON sms_messages (provider, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX sms_messages_thread ON sms_messages (conversation_id, id);

-- One row per billable event; `source_key` makes a re-delivered callback a no-op.
CREATE TABLE usage_records (
    id           TEXT    NOT NULL PRIMARY KEY,
    org_id       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    quantity     INTEGER NOT NULL,
    price_micros INTEGER,
    price_source TEXT    NOT NULL,
    source_key   TEXT    NOT NULL UNIQUE,
    ref_id       TEXT,
    occurred_at  INTEGER NOT NULL
);
CREATE INDEX usage_records_org ON usage_records (org_id, occurred_at);

CREATE TABLE plans (
    org_id                   TEXT    NOT NULL PRIMARY KEY,
    currency                 TEXT    NOT NULL,
    monthly_fee_minor        INTEGER NOT NULL,
    included_minutes         INTEGER NOT NULL,
    per_minute_micros        INTEGER NOT NULL,
    per_sms_segment_micros   INTEGER NOT NULL,
    per_number_month_micros  INTEGER NOT NULL,
    per_recording_minute_micros INTEGER NOT NULL,
    markup_bps               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);

CREATE TABLE invoices (
    id           TEXT    NOT NULL PRIMARY KEY,
    org_id       TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    currency     TEXT    NOT NULL,
    total_minor  INTEGER NOT NULL,
    lines        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX invoices_org ON invoices (org_id, id);
