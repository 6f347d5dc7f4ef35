-- Releasing a call's lines by its key. The old `DELETE ... WHERE call_id = ...`
-- was planned as a sequential scan (the table holds few live rows), and every
-- released line leaves a dead row until VACUUM: with autovacuum slow or off,
-- each release read every line ever released, and call setup slowed down as
-- the day went on. The primary key (tenant, user) finds both lines at once.
CREATE OR REPLACE FUNCTION calls_release_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_lines
    WHERE tenant_id = NEW.tenant_id
      AND user_id IN (NEW.from_user_id, NEW.to_user_id)
      AND call_id = NEW.id;
    RETURN NULL;
END
$$;

-- A table of short-lived rows: vacuum it after a fixed number of dead rows,
-- not a fraction of its (tiny) size.
ALTER TABLE call_lines SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                            autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000);
