-- The country of the client address in the activity history (ISO code or 'unknown'; NULL when
-- no country database is configured).
ALTER TABLE activity ADD COLUMN country TEXT;
