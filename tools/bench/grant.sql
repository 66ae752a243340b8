-- pgbench: the SQL of one credit grant, one transaction per command (no group
-- commit). The same statements tallyd runs per batch, for a single command.
\set c random(1, 10000)
\set k random(1, 9000000000000000000)
BEGIN;
SELECT body_hash, status, response FROM idempotency WHERE principal = 'admin-1' AND key = :client_id || '-' || :k;
SELECT id, role, permissions, session_version, active FROM principals WHERE id = 'admin-1';
INSERT INTO snapshots (stream_id, version, state, last_hash)
  VALUES ('credit-b' || :c, 0, ''::bytea, decode(repeat('00', 32), 'hex')) ON CONFLICT (stream_id) DO NOTHING;
SELECT stream_id, version, state, last_hash FROM snapshots WHERE stream_id = 'credit-b' || :c FOR UPDATE;
UPDATE journal_head SET position = position + 1 WHERE id = 1;
INSERT INTO journal (position, stream_id, stream_version, event_id, type, schema_version, occurred_at_unix_ms,
                     causation_id, correlation_id, actor, payload, prev_hash, hash)
  SELECT h.position, s.stream_id, s.version + 1, gen_random_uuid()::text, 'CreditGranted', 1,
         (extract(epoch from now()) * 1000)::bigint, md5(random()::text), 'req-bench', 'admin-1',
         decode(repeat('ab', 170), 'hex'), s.last_hash, sha256(s.last_hash || decode(repeat('cd', 200), 'hex'))
  FROM journal_head h, snapshots s WHERE h.id = 1 AND s.stream_id = 'credit-b' || :c;
UPDATE snapshots SET version = version + 1, state = decode(repeat('ef', 30), 'hex'),
                     last_hash = sha256(last_hash || decode(repeat('cd', 200), 'hex'))
  WHERE stream_id = 'credit-b' || :c;
INSERT INTO idempotency (principal, key, body_hash, status, response)
  VALUES ('admin-1', :client_id || '-' || :k, sha256(decode(repeat('12', 60), 'hex')), 201, repeat('x', 220));
END;
