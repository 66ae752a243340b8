-- Principals are event-sourced records (stream "principal-{id}"); this table is written
-- from them in the command's transaction and re-read on every request.
ALTER TABLE principals ADD COLUMN display_name text NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN email text NOT NULL DEFAULT '';
ALTER TABLE principals ADD COLUMN preset text NOT NULL DEFAULT '';
CREATE INDEX principals_by_role ON principals (role, id);
-- tally-token submits its changes through the command path as this principal.
INSERT INTO principals (id, role, permissions) VALUES ('system:tally-token', 'system', '') ON CONFLICT DO NOTHING;
