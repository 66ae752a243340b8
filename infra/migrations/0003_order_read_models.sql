-- Order read models (projector "orders"). Caches of the journal.
CREATE TABLE orders (
    order_id             text   PRIMARY KEY,
    customer_id          text   NOT NULL,
    status               text   NOT NULL,
    currency             text   NOT NULL,
    total_minor          bigint NOT NULL,
    credit_applied_minor bigint NOT NULL,
    amount_due_minor     bigint NOT NULL,
    zero_payment         boolean NOT NULL,
    placed_at_unix_ms    bigint NOT NULL,
    position             bigint NOT NULL,
    detail               bytea  NOT NULL   -- the OrderPlaced payload: pricing snapshot and sub-orders
);
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at_unix_ms DESC);
CREATE INDEX orders_by_status ON orders (status, placed_at_unix_ms DESC);

CREATE TABLE sub_orders (
    order_id          text   NOT NULL,
    vendor_id         text   NOT NULL,
    status            text   NOT NULL,
    goods_net_minor   bigint NOT NULL,
    shipping_minor    bigint NOT NULL,
    commission_minor  bigint NOT NULL,
    payable_minor     bigint NOT NULL,
    placed_at_unix_ms bigint NOT NULL,
    PRIMARY KEY (order_id, vendor_id)
);
CREATE INDEX sub_orders_by_vendor ON sub_orders (vendor_id, placed_at_unix_ms DESC);
