-- A provider that connects by the org's own key (MightyCall): the API key and
-- user key, sealed as JSON with SWITCHBOARD_ENCRYPTION_KEY like the tokens.
-- NULL for OAuth providers (RingCentral).
ALTER TABLE integrations ADD COLUMN credentials TEXT;
