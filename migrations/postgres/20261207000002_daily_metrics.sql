-- Daily call metrics per member, in the org's time zone (docs/metrics.md).
CREATE TABLE org_settings (
    org_id     TEXT   NOT NULL PRIMARY KEY,
    time_zone  TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per (org, local day, member); `computed_at` orders recomputations:
-- an older one never overwrites a newer one.
CREATE TABLE daily_call_metrics (
    org_id       TEXT   NOT NULL,
    day          TEXT   NOT NULL,
    user_id      TEXT   NOT NULL,
    total        BIGINT NOT NULL,
    inbound      BIGINT NOT NULL,
    outbound     BIGINT NOT NULL,
    answered     BIGINT NOT NULL,
    missed       BIGINT NOT NULL,
    talk_seconds BIGINT NOT NULL,
    computed_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, user_id)
);

CREATE INDEX calls_by_start ON calls (tenant_id, started_at);

-- Every write of an ended call leaves a touch: the days to recompute. The
-- worker takes touches up to an id and deletes exactly those, so a touch
-- made meanwhile is kept for the next round.
CREATE TABLE metric_touches (
    id         BIGSERIAL PRIMARY KEY,
    org_id     TEXT   NOT NULL,
    started_at BIGINT NOT NULL
);

CREATE FUNCTION calls_touch_metrics() RETURNS trigger AS $$
BEGIN
    IF NEW.ended_at IS NOT NULL THEN
        INSERT INTO metric_touches (org_id, started_at) VALUES (NEW.tenant_id, NEW.started_at);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.ended_at IS NOT NULL AND OLD.started_at <> NEW.started_at THEN
        INSERT INTO metric_touches (org_id, started_at) VALUES (OLD.tenant_id, OLD.started_at);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER calls_touch_metrics AFTER INSERT OR UPDATE ON calls
FOR EACH ROW EXECUTE FUNCTION calls_touch_metrics();

-- Calls that ended before this migration are counted too.
INSERT INTO metric_touches (org_id, started_at)
SELECT DISTINCT tenant_id, started_at FROM calls WHERE ended_at IS NOT NULL;
