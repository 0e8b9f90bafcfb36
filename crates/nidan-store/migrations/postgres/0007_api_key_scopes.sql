-- What an API key may do (comma-separated: verify, send, read; keys made before scopes existed
-- keep what they could do, `verify`), and when it was last used.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'verify';
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
