-- Passports: read models of the countries of origin customers bought from (the passport
-- projector, domain/passport.h). passport_orders and passport_lines are what the
-- projector folds each order's facts into; stamps and counts follow from them.
CREATE TABLE passport_orders (
    order_id         text    PRIMARY KEY,
    customer_id      text    NOT NULL,
    total_minor      bigint  NOT NULL,
    paid_at_unix_ms  bigint  NOT NULL,  -- 0: not paid
    given_back_minor bigint  NOT NULL,
    voided           boolean NOT NULL
);
CREATE INDEX passport_orders_by_customer ON passport_orders (customer_id);

CREATE TABLE passport_lines (
    order_id       text   NOT NULL,
    line_no        int    NOT NULL,
    sku            text   NOT NULL,
    country        text   NOT NULL,
    units          bigint NOT NULL,
    units_refunded bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE passport_stamps (
    customer_id            text   NOT NULL,
    country                text   NOT NULL,
    continent              text   NOT NULL,
    first_purchase_unix_ms bigint NOT NULL,
    orders                 text[] NOT NULL,
    units                  bigint NOT NULL,
    products               text[] NOT NULL,
    PRIMARY KEY (customer_id, country)
);

CREATE TABLE passport_counts (
    customer_id text   PRIMARY KEY,
    countries   int    NOT NULL,
    continents  int    NOT NULL,
    badges      text[] NOT NULL
);
-- GET /v1/passport/leaderboard: most countries first.
CREATE INDEX passport_counts_ranked ON passport_counts (countries DESC, customer_id);

-- Who may be named on the leaderboard (from CustomerProfileSet).
CREATE TABLE passport_profiles (
    customer_id        text    PRIMARY KEY,
    display_name       text    NOT NULL,
    leaderboard_opt_in boolean NOT NULL
);
