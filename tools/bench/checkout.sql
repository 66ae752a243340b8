-- pgbench: the SQL of one checkout (5 lines, 3 vendors), one transaction per
-- command: what tallyd's batch does for it, without group commit. Since the double-click
-- rule, a checkout also locks and updates the customer's checkout record and appends
-- CheckoutRecorded (7 events).
\set i random(1, 100000000)
\set k random(1, 9000000000000000000)
\set c random(1, 64)
BEGIN;
SELECT body_hash, status, response FROM idempotency WHERE principal = 'buyer-' || :c AND key = 'k' || :k;
SELECT id, role, permissions, session_version, active FROM principals WHERE id = 'buyer-' || :c;
INSERT INTO snapshots (stream_id, version, state, last_hash)
  VALUES ('order-' || :k, 0, ''::bytea, decode(repeat('00', 32), 'hex')), ('credit-buyer-' || :c, 0, ''::bytea, decode(repeat('00', 32), 'hex')),
         ('checkouts-buyer-' || :c, 0, ''::bytea, decode(repeat('00', 32), 'hex'))
  ON CONFLICT (stream_id) DO NOTHING;
WITH locked AS (SELECT stream_id, version, state, last_hash FROM snapshots WHERE stream_id = ANY(ARRAY[
  'order-' || :k, 'credit-buyer-' || :c, 'checkouts-buyer-' || :c,
  'stock-v0-p' || (:i * 7) % 10, 'stock-v1-p' || (:i * 7 + 3) % 10, 'stock-v2-p' || (:i * 7 + 6) % 10,
  'stock-v0-p' || (:i * 7 + 9) % 10, 'stock-v1-p' || (:i * 7 + 12) % 10]) ORDER BY stream_id FOR UPDATE)
SELECT true, * FROM locked
UNION ALL SELECT false, stream_id, version, state, last_hash FROM snapshots WHERE stream_id = ANY(ARRAY[
  'catalog-settings', 'customer-buyer-' || :c, 'vendor-v0', 'vendor-v1', 'vendor-v2',
  'product-v0-p' || (:i * 7) % 10, 'product-v1-p' || (:i * 7 + 3) % 10, 'product-v2-p' || (:i * 7 + 6) % 10,
  'product-v0-p' || (:i * 7 + 9) % 10, 'product-v1-p' || (:i * 7 + 12) % 10]);
UPDATE journal_head SET position = position + 7 WHERE id = 1;
INSERT INTO journal (position, stream_id, stream_version, event_id, type, schema_version, occurred_at_unix_ms,
                     causation_id, correlation_id, actor, payload, prev_hash, hash)
  SELECT h.position - 7 + n, CASE WHEN n = 1 THEN 'order-' || :k ELSE 'stock-' || n || '-' || :k END, 1,
         gen_random_uuid()::text, CASE WHEN n = 1 THEN 'OrderPlaced' WHEN n = 7 THEN 'CheckoutRecorded' ELSE 'StockReserved' END, 1,
         (extract(epoch from now()) * 1000)::bigint, md5(:k::text), 'req-bench', 'buyer-' || :c,
         CASE WHEN n = 1 THEN decode(repeat('ab', 900), 'hex') ELSE decode(repeat('ab', 40), 'hex') END,
         decode(repeat('00', 32), 'hex'), sha256(decode(repeat('cd', 200), 'hex'))
  FROM journal_head h, generate_series(1, 7) n WHERE h.id = 1;
UPDATE snapshots SET version = version + 1, state = decode(repeat('ef', 20), 'hex'), last_hash = sha256(last_hash)
  WHERE stream_id = ANY(ARRAY['stock-v0-p' || (:i * 7) % 10, 'stock-v1-p' || (:i * 7 + 3) % 10, 'stock-v2-p' || (:i * 7 + 6) % 10,
                              'stock-v0-p' || (:i * 7 + 9) % 10, 'stock-v1-p' || (:i * 7 + 12) % 10, 'order-' || :k,
                              'checkouts-buyer-' || :c]);
INSERT INTO idempotency (principal, key, body_hash, status, response)
  VALUES ('buyer-' || :c, 'k' || :k, sha256(decode(repeat('12', 60), 'hex')), 201, repeat('x', 1200));
END;
