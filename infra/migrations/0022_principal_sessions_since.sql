-- Tokens from an identity provider carry no session version: a revocation also records
-- the second from which such tokens must have been issued (PrincipalRecord.sessions_since_unix_s).
ALTER TABLE principals ADD COLUMN sessions_since bigint NOT NULL DEFAULT 0;
