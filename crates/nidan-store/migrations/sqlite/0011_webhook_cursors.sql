-- Where each operator webhook is in the history (`activity`): the id of the last line it is
-- done with, and its failures in a row (a receiver that is down holds only its own webhook).
CREATE TABLE webhook_cursors (
    name       TEXT    PRIMARY KEY,
    last_id    INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
