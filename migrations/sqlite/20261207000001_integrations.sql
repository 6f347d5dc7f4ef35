-- Provider integrations (RingCentral, MightyCall): one per (org, provider),
-- tokens sealed with SWITCHBOARD_ENCRYPTION_KEY, the sync cursor, and the
-- lease that lets one node at a time sync (and so spend a refresh token).
CREATE TABLE integrations (
    id                TEXT   NOT NULL PRIMARY KEY,
    org_id            TEXT   NOT NULL,
    provider          TEXT   NOT NULL,
    -- active | needs_reconnect
    status            TEXT   NOT NULL,
    account_id        TEXT,
    -- AES-256-GCM sealed (docs/integrations.md); never logged.
    access_token      TEXT   NOT NULL,
    refresh_token     TEXT,
    access_expires_at BIGINT NOT NULL,
    -- Calls that started before this (Unix ms) were fetched by a finished sync.
    synced_to         BIGINT,
    last_sync_at      BIGINT,
    last_error        TEXT,
    -- The running or last sync: pages, records, requests (JSON).
    progress          TEXT,
    lease_owner       TEXT,
    lease_until       BIGINT,
    connected_by      TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (org_id, provider)
);

-- The provider's record as it came, beside the CallLog row made from it.
CREATE TABLE provider_records (
    provider    TEXT   NOT NULL,
    external_id TEXT   NOT NULL,
    org_id      TEXT   NOT NULL,
    call_id     TEXT   NOT NULL,
    payload     TEXT   NOT NULL,
    fetched_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, external_id)
);

-- Which member a provider extension is (synced calls are matched by it, or by assigned number).
CREATE TABLE provider_extensions (
    org_id     TEXT   NOT NULL,
    provider   TEXT   NOT NULL,
    extension  TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, provider, extension)
);
