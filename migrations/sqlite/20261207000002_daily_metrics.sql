-- Daily call metrics per member, in the org's time zone (docs/metrics.md).
CREATE TABLE org_settings (
    org_id     TEXT    NOT NULL PRIMARY KEY,
    time_zone  TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per (org, local day, member); `computed_at` orders recomputations:
-- an older one never overwrites a newer one.
CREATE TABLE daily_call_metrics (
    org_id       TEXT    NOT NULL,
    day          TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    total        INTEGER NOT NULL,
    inbound      INTEGER NOT NULL,
    outbound     INTEGER NOT NULL,
    answered     INTEGER NOT NULL,
    missed       INTEGER NOT NULL,
    talk_seconds INTEGER NOT NULL,
    computed_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, day, user_id)
);

CREATE INDEX calls_by_start ON calls (tenant_id, started_at);

-- Every write of an ended call leaves a touch: the days to recompute. The
-- worker takes touches up to an id and deletes exactly those, so a touch
-- made meanwhile is kept for the next round.
CREATE TABLE metric_touches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     TEXT    NOT NULL,
    started_at INTEGER NOT NULL
);

CREATE TRIGGER calls_touch_metrics_insert AFTER INSERT ON calls
WHEN NEW.ended_at IS NOT NULL
BEGIN
    INSERT INTO metric_touches (org_id, started_at) VALUES (NEW.tenant_id, NEW.started_at);
END;

CREATE TRIGGER calls_touch_metrics_update AFTER UPDATE ON calls
WHEN NEW.ended_at IS NOT NULL
BEGIN
    INSERT INTO metric_touches (org_id, started_at) VALUES (NEW.tenant_id, NEW.started_at);
END;

CREATE TRIGGER calls_touch_metrics_moved AFTER UPDATE ON calls
WHEN OLD.ended_at IS NOT NULL AND OLD.started_at <> NEW.started_at
BEGIN
    INSERT INTO metric_touches (org_id, started_at) VALUES (OLD.tenant_id, OLD.started_at);
END;

-- Calls that ended before this migration are counted too.
INSERT INTO metric_touches (org_id, started_at)
SELECT DISTINCT tenant_id, started_at FROM calls WHERE ended_at IS NOT NULL;
