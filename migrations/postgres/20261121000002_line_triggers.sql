-- Lines are taken and released by the database itself: inserting an open call
-- takes both participants' lines (a taken line aborts the INSERT with a
-- unique violation: BUSY), and the update that makes a call final releases
-- them. One statement per transition, no explicit transaction.

CREATE FUNCTION calls_take_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_lines (tenant_id, user_id, call_id)
    VALUES (NEW.tenant_id, NEW.from_user_id, NEW.id), (NEW.tenant_id, NEW.to_user_id, NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_take_lines AFTER INSERT ON calls
FOR EACH ROW WHEN (NEW.status IN ('RINGING', 'ACTIVE'))
EXECUTE FUNCTION calls_take_lines();

CREATE FUNCTION calls_release_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_lines WHERE call_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_release_lines AFTER UPDATE OF status ON calls
FOR EACH ROW WHEN (NEW.status NOT IN ('RINGING', 'ACTIVE'))
EXECUTE FUNCTION calls_release_lines();
