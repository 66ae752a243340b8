-- The streams the pgbench renewal locks, reads and updates.
INSERT INTO snapshots (stream_id, version, state, last_hash)
  SELECT s, 1, decode(repeat('ab', 200), 'hex'), decode(repeat('00', 32), 'hex')
  FROM (SELECT 'catalog-settings' AS s UNION ALL SELECT 'vendor-v0' UNION ALL SELECT 'loyalty-program'
        UNION ALL SELECT 'product-v0-p' || p FROM generate_series(0, 9) p
        UNION ALL SELECT 'stock-v0-p' || p FROM generate_series(0, 9) p
        UNION ALL SELECT 'subscription-sub-' || i FROM generate_series(1, 10000) i) t
  ON CONFLICT DO NOTHING;
