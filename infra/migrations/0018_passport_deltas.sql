-- Passports kept by deltas (issue 15): a stamp's supporting orders and products get rows
-- of their own, so the passport projector moves only the stamps a batch's orders touch
-- and never reads a customer's whole history (its time and memory grew with it). The
-- rows are filled here from the orders and lines the projector already folded, by the
-- rule of domain/passport.h (supports): a line of a paid order, not voided, not given
-- back in full, with units not refunded, in a known country.
CREATE TABLE passport_stamp_orders (
    customer_id     text   NOT NULL,
    country         text   NOT NULL,
    order_id        text   NOT NULL,
    paid_at_unix_ms bigint NOT NULL,
    PRIMARY KEY (customer_id, country, order_id)
);

CREATE TABLE passport_stamp_products (
    customer_id text   NOT NULL,
    country     text   NOT NULL,
    sku         text   NOT NULL,
    purchases   bigint NOT NULL,  -- the order lines supporting it
    PRIMARY KEY (customer_id, country, sku)
);

CREATE TEMPORARY VIEW passport_supporting_lines AS
    SELECT o.customer_id, l.country, o.order_id, o.paid_at_unix_ms, l.sku
    FROM passport_orders o JOIN passport_lines l USING (order_id)
    WHERE o.paid_at_unix_ms <> 0 AND NOT o.voided AND NOT (o.total_minor > 0 AND o.given_back_minor >= o.total_minor)
      AND l.units_refunded < l.units AND l.country <> '';

INSERT INTO passport_stamp_orders
    SELECT DISTINCT customer_id, country, order_id, paid_at_unix_ms FROM passport_supporting_lines;
INSERT INTO passport_stamp_products
    SELECT customer_id, country, sku, count(*) FROM passport_supporting_lines GROUP BY customer_id, country, sku;
DROP VIEW passport_supporting_lines;

ALTER TABLE passport_stamps DROP COLUMN orders, DROP COLUMN products;
