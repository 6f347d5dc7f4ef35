-- When a participant was lost (or the server restarted): a call that ends at
-- its grace deadline ends, for its duration, at this moment instead.
ALTER TABLE calls ADD COLUMN grace_since BIGINT;
