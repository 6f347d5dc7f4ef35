-- Why a call's recording is missing or cut short (a directory that cannot be written, a full disk).
ALTER TABLE calls ADD COLUMN recording_error TEXT;
