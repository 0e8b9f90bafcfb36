-- Sends to a destination not yet confirmed are capped per client address: the client that asked
-- for a code (IPv6 grouped by /64) is kept with it.
ALTER TABLE oob_codes ADD COLUMN client TEXT;
CREATE INDEX oob_codes_unconfirmed_client ON oob_codes(client, created_at) WHERE binding_kind = 'enrolment';
CREATE INDEX oob_codes_unconfirmed_channel ON oob_codes(channel, created_at) WHERE binding_kind = 'enrolment';
-- The per-destination cap counts an account's own sends.
CREATE INDEX oob_codes_user_destination_sent ON oob_codes(user_id, destination, created_at);
DROP INDEX oob_codes_destination_sent;

-- Wrong passwords per sign-in email, known or not, under a keyed hash of the address (useless
-- without the key file); a right password deletes the row.
CREATE TABLE password_failures (
    subject         BYTEA   PRIMARY KEY,
    failures        BIGINT  NOT NULL,
    last_failure_at BIGINT  NOT NULL
);
