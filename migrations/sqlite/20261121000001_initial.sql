-- switchboard initial schema (SQLite). Timestamps are Unix milliseconds.

CREATE TABLE participants (
    tenant_id        TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    participant_type TEXT    NOT NULL CHECK (participant_type IN ('CRM_USER', 'PORTAL_CUSTOMER')),
    first_name       TEXT,
    last_name        TEXT,
    email            TEXT,
    role             TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;

CREATE TABLE calls (
    id             TEXT    NOT NULL PRIMARY KEY,  -- UUIDv7: ordered by creation time
    tenant_id      TEXT    NOT NULL,
    room_name      TEXT    NOT NULL,
    from_user_id   TEXT    NOT NULL,
    from_user_type TEXT    NOT NULL,
    to_user_id     TEXT    NOT NULL,
    to_user_type   TEXT    NOT NULL,
    caller_name    TEXT,
    status         TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    answered_at    INTEGER,
    ended_at       INTEGER,
    duration       INTEGER NOT NULL DEFAULT 0,
    end_reason     TEXT,
    ended_by       TEXT,
    ring_deadline  INTEGER,
    grace_deadline INTEGER,
    grace_reason   TEXT,
    caller_session TEXT,
    callee_session TEXT,
    record         INTEGER NOT NULL DEFAULT 0,
    node_id        TEXT    NOT NULL,
    version        INTEGER NOT NULL DEFAULT 0
);

-- History: a user's calls, newest first, on either side.
CREATE INDEX calls_from_history ON calls (tenant_id, from_user_id, id);
CREATE INDEX calls_to_history ON calls (tenant_id, to_user_id, id);
-- Sweepers: open calls whose deadline passed.
CREATE INDEX calls_ring_due ON calls (ring_deadline) WHERE status = 'RINGING';
CREATE INDEX calls_grace_due ON calls (grace_deadline) WHERE grace_deadline IS NOT NULL;
CREATE INDEX calls_open_by_node ON calls (node_id, status) WHERE status IN ('RINGING', 'ACTIVE');

-- A participant's "line": held by at most one open call. Taking both lines in
-- the transaction that creates the call is what makes BUSY race-free.
CREATE TABLE call_lines (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    call_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE INDEX call_lines_call ON call_lines (call_id);
