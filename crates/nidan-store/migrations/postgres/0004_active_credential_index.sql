-- The active credential of an account is its newest confirmed one. Indexed by (user, confirmed
-- time), the database finds it by walking the index backwards; with the old index on the user
-- alone SQLite built a temporary b-tree to sort on every code check (docs/performance.md, "Why the
-- design is as it is"). The new index serves every lookup by user the old one did.
CREATE INDEX totp_credentials_user_confirmed ON totp_credentials(user_id, confirmed_at);
DROP INDEX totp_credentials_user;
