-- When a number's current org began holding it: a move to another org
-- starts that org's number-months there, not at the number's first day.
ALTER TABLE phone_numbers ADD COLUMN held_since BIGINT;
UPDATE phone_numbers SET held_since = created_at;
