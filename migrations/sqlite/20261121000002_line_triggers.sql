-- Lines are taken and released by the database itself: inserting an open call
-- takes both participants' lines (a taken line aborts the INSERT with a
-- unique violation: BUSY), and the update that makes a call final releases
-- them. One statement per transition, no explicit transaction.

CREATE TRIGGER calls_take_lines AFTER INSERT ON calls
WHEN NEW.status IN ('RINGING', 'ACTIVE')
BEGIN
    INSERT INTO call_lines (tenant_id, user_id, call_id) VALUES (NEW.tenant_id, NEW.from_user_id, NEW.id);
    INSERT INTO call_lines (tenant_id, user_id, call_id) VALUES (NEW.tenant_id, NEW.to_user_id, NEW.id);
END;

CREATE TRIGGER calls_release_lines AFTER UPDATE OF status ON calls
WHEN NEW.status NOT IN ('RINGING', 'ACTIVE')
BEGIN
    DELETE FROM call_lines WHERE call_id = NEW.id;
END;
