-- The admin list without filters pages through all orders newest first.
CREATE INDEX orders_by_time ON orders (placed_at_unix_ms DESC, order_id DESC);
