-- The payment provider is a principal: its webhooks go through the command pipeline
-- (idempotent by provider event id, forever) like any other command. It has no token;
-- the webhook route authenticates it by signature.
ALTER TABLE principals DROP CONSTRAINT principals_role_check;
ALTER TABLE principals ADD CONSTRAINT principals_role_check
    CHECK (role IN ('admin','employee','vendor','affiliate','customer','auditor','provider'));
INSERT INTO principals (id, role, permissions) VALUES ('provider:stripe', 'provider', '') ON CONFLICT DO NOTHING;
