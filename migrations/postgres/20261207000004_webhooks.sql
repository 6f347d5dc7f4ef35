-- Signed webhooks out (docs/webhooks.md): endpoints, the persistent outbox (one row per message and endpoint), and the log of every attempt.
CREATE TABLE webhook_endpoints (
    id          TEXT   NOT NULL PRIMARY KEY,
    org_id      TEXT   NOT NULL,
    url         TEXT   NOT NULL,
    -- `whsec_…`: the receiver verifies with it, so it is kept to sign with.
    secret      TEXT   NOT NULL,
    -- Space-separated event types.
    events      TEXT   NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);

CREATE TABLE webhook_outbox (
    msg_id          TEXT   NOT NULL,
    endpoint_id     TEXT   NOT NULL,
    org_id          TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    -- pending | delivered | failed
    state           TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    PRIMARY KEY (msg_id, endpoint_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at);

CREATE TABLE webhook_deliveries (
    msg_id      TEXT   NOT NULL,
    endpoint_id TEXT   NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id, attempt)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, at);
