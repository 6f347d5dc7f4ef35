-- The callee's display name when the call was placed, so both sides' histories show a name.
ALTER TABLE calls ADD COLUMN callee_name TEXT;
