-- The catalog and stock streams the pgbench checkout locks and updates.
INSERT INTO principals (id, role) SELECT 'buyer-' || i, 'customer' FROM generate_series(1, 200) i ON CONFLICT DO NOTHING;
INSERT INTO snapshots (stream_id, version, state, last_hash)
  SELECT s, 1, decode(repeat('ab', 60), 'hex'), decode(repeat('00', 32), 'hex')
  FROM (SELECT 'catalog-settings' AS s
        UNION ALL SELECT 'vendor-v' || v FROM generate_series(0, 2) v
        UNION ALL SELECT 'product-v' || v || '-p' || p FROM generate_series(0, 2) v, generate_series(0, 9) p
        UNION ALL SELECT 'stock-v' || v || '-p' || p FROM generate_series(0, 2) v, generate_series(0, 9) p) t
  ON CONFLICT DO NOTHING;
