-- pgbench: the SQL of one renewal's batch, as the scheduler submits it (one at a time):
-- the idempotency check under its key, the principal, the subscription, the new order,
-- the product's stock and the customer's loyalty locked; the catalog read; RenewalPlaced,
-- OrderPlaced and StockReserved appended; three snapshots written; the answer kept.
\set k random(1, 10000)
\set o random(1, 9000000000000000000)
BEGIN;
SELECT body_hash, status, response FROM idempotency WHERE principal = 'system:subscriptions' AND key = 'renewal-sub-' || :o || '-1';
SELECT id, role, permissions, session_version, active FROM principals WHERE id = 'system:subscriptions';
INSERT INTO snapshots (stream_id, version, state, last_hash)
  VALUES ('order-ord-sub-' || :o || '-1', 0, ''::bytea, decode(repeat('00', 32), 'hex')),
         ('loyalty-subscriber-' || :k % 256, 0, ''::bytea, decode(repeat('00', 32), 'hex'))
  ON CONFLICT (stream_id) DO NOTHING;
WITH locked AS (SELECT stream_id, version, state, last_hash FROM snapshots WHERE stream_id = ANY(ARRAY[
  'subscription-sub-' || :k, 'order-ord-sub-' || :o || '-1', 'stock-v0-p' || :k % 10, 'loyalty-subscriber-' || :k % 256])
  ORDER BY stream_id FOR UPDATE)
SELECT true, * FROM locked
UNION ALL SELECT false, stream_id, version, state, last_hash FROM snapshots WHERE stream_id = ANY(ARRAY[
  'catalog-settings', 'customer-subscriber-' || :k % 256, 'vendor-v0', 'product-v0-p' || :k % 10, 'loyalty-program']);
UPDATE journal_head SET position = position + 3 WHERE id = 1;
INSERT INTO journal (position, stream_id, stream_version, event_id, type, schema_version, occurred_at_unix_ms,
                     causation_id, correlation_id, actor, payload, prev_hash, hash)
  SELECT h.position - 3 + n, e.stream, s.version + 1,
         gen_random_uuid()::text, CASE WHEN n = 1 THEN 'OrderPlaced' WHEN n = 2 THEN 'StockReserved' ELSE 'RenewalPlaced' END, 1,
         (extract(epoch from now()) * 1000)::bigint, md5(:o::text), 'renewal-sub-' || :o, 'system:subscriptions',
         CASE WHEN n = 1 THEN decode(repeat('ab', 500), 'hex') ELSE decode(repeat('ab', 60), 'hex') END,
         s.last_hash, sha256(decode(repeat('cd', 200), 'hex'))
  FROM journal_head h, generate_series(1, 3) n,
       LATERAL (SELECT CASE WHEN n = 1 THEN 'order-ord-sub-' || :o || '-1' WHEN n = 2 THEN 'stock-v0-p' || :k % 10
                            ELSE 'subscription-sub-' || :k END AS stream) e
       JOIN snapshots s ON s.stream_id = e.stream
  WHERE h.id = 1;
UPDATE snapshots SET version = version + 1, state = decode(repeat('ef', 200), 'hex'), last_hash = sha256(last_hash)
  WHERE stream_id = ANY(ARRAY['subscription-sub-' || :k, 'order-ord-sub-' || :o || '-1', 'stock-v0-p' || :k % 10]);
INSERT INTO idempotency (principal, key, body_hash, status, response)
  VALUES ('system:subscriptions', 'renewal-sub-' || :o || '-1', sha256(decode(repeat('12', 60), 'hex')), 201, repeat('x', 300));
END;
