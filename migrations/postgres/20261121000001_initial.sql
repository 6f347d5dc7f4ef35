-- switchboard initial schema (PostgreSQL). Timestamps are Unix milliseconds.
-- Ids are compared byte-wise (COLLATE "C") so UUIDv7 text orders by time.

CREATE TABLE participants (
    tenant_id        TEXT   NOT NULL,
    user_id          TEXT   NOT NULL,
    participant_type TEXT   NOT NULL CHECK (participant_type IN ('CRM_USER', 'PORTAL_CUSTOMER')),
    first_name       TEXT,
    last_name        TEXT,
    email            TEXT,
    role             TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE calls (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    room_name      TEXT    NOT NULL,
    from_user_id   TEXT    NOT NULL,
    from_user_type TEXT    NOT NULL,
    to_user_id     TEXT    NOT NULL,
    to_user_type   TEXT    NOT NULL,
    caller_name    TEXT,
    status         TEXT    NOT NULL,
    started_at     BIGINT  NOT NULL,
    answered_at    BIGINT,
    ended_at       BIGINT,
    duration       BIGINT  NOT NULL DEFAULT 0,
    end_reason     TEXT,
    ended_by       TEXT,
    ring_deadline  BIGINT,
    grace_deadline BIGINT,
    grace_reason   TEXT,
    caller_session TEXT,
    callee_session TEXT,
    record         BOOLEAN NOT NULL DEFAULT FALSE,
    node_id        TEXT    NOT NULL,
    version        BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX calls_from_history ON calls (tenant_id, from_user_id, id);
CREATE INDEX calls_to_history ON calls (tenant_id, to_user_id, id);
CREATE INDEX calls_ring_due ON calls (ring_deadline) WHERE status = 'RINGING';
CREATE INDEX calls_grace_due ON calls (grace_deadline) WHERE grace_deadline IS NOT NULL;
CREATE INDEX calls_open_by_node ON calls (node_id, status) WHERE status IN ('RINGING', 'ACTIVE');

CREATE TABLE call_lines (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    call_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX call_lines_call ON call_lines (call_id);
