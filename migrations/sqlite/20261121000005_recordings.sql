-- Where a recorded call's audio is (relative to SWITCHBOARD_RECORDING_DIR) and its size.
ALTER TABLE calls ADD COLUMN recording_path TEXT;
ALTER TABLE calls ADD COLUMN recording_bytes INTEGER;
