-- What a session's sign-in proved beyond the password: a method's name (`totp`, `sms`, `email`,
-- `recovery`) or `device` (a remembered device); NULL for the password alone. Apps behind nidan
-- whose access rule asks for two factors accept only sessions with a second step.
ALTER TABLE sessions ADD COLUMN second_step TEXT;
