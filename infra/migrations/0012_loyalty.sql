-- Loyalty tier state: read models of the "loyalty-{customer}" streams. Rebuilt by the
-- loyalty projector; the journal is the truth (tally-replay reconcile compares).
CREATE TABLE loyalty_standings (
    customer_id    text   NOT NULL,
    currency       text   NOT NULL,
    spend_minor    bigint NOT NULL DEFAULT 0,
    spend_position bigint NOT NULL DEFAULT 0,  -- the SpendRecorded it is from
    tier           text   NOT NULL DEFAULT '',
    tier_position  bigint NOT NULL DEFAULT 0,  -- the TierChanged it is from
    PRIMARY KEY (customer_id, currency)
);
-- GET /v1/loyalty/customers?tier=&currency=: keyset pages by customer id.
CREATE INDEX loyalty_standings_by_tier ON loyalty_standings (currency, tier, customer_id);

CREATE TABLE loyalty_holds (
    customer_id     text   NOT NULL,
    dispute_id      text   NOT NULL,
    order_id        text   NOT NULL,
    opened_position bigint NOT NULL,
    PRIMARY KEY (customer_id, dispute_id)
);

CREATE TABLE loyalty_history (
    customer_id         text   NOT NULL,
    position            bigint NOT NULL,
    event_id            text   NOT NULL,
    currency            text   NOT NULL,
    from_tier           text   NOT NULL,
    to_tier             text   NOT NULL,
    reason              text   NOT NULL,
    spend_minor         bigint NOT NULL,
    program_version     bigint NOT NULL,
    occurred_at_unix_ms bigint NOT NULL,
    PRIMARY KEY (customer_id, position)
);

-- The re-tiering pass's progress (commands/retier_pass.h): the program version it works
-- on and the last customer stream it finished. Only a speed-up: every re-tiering is
-- decided on the customer's fresh state, so a pass that repeats writes nothing twice.
CREATE TABLE loyalty_retier_progress (
    id              int    PRIMARY KEY CHECK (id = 1),
    program_version bigint NOT NULL,
    after_stream    text   NOT NULL,  -- '' at the start of a pass
    completed       boolean NOT NULL
);

-- GET /v1/loyalty/customers?currency= without a tier: keyset pages by customer id.
CREATE INDEX loyalty_standings_by_currency ON loyalty_standings (currency, customer_id);

-- The pass's principal: what it writes is attributed to it.
INSERT INTO principals (id, role, permissions) VALUES ('system:retier', 'system', '') ON CONFLICT DO NOTHING;
