-- Projector "orders": the order's fulfilment status, which follows its sub-orders
-- (unfulfilled, partially_shipped, shipped, delivered), and each sub-order's carrier
-- and tracking. Existing rows are filled by a rebuild (POST /v1/projections/orders/rebuild).
ALTER TABLE orders ADD COLUMN fulfilment_status text NOT NULL DEFAULT 'unfulfilled';
CREATE INDEX orders_by_fulfilment ON orders (fulfilment_status, placed_at_unix_ms DESC);
ALTER TABLE sub_orders ADD COLUMN carrier text NOT NULL DEFAULT '';
ALTER TABLE sub_orders ADD COLUMN tracking text NOT NULL DEFAULT '';
