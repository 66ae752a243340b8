-- Affiliates: read models of the affiliates projector (projectors/affiliates_projection.h).
-- The payable balance itself is the ledger's (ledger_accounts, affiliate_payable:{id});
-- these tables list who the affiliates are and what each conversion earned and lost.
CREATE TABLE affiliates (
    affiliate_id   text   PRIMARY KEY,
    status         text   NOT NULL,
    currency       text   NOT NULL,
    commission_bps int    NOT NULL,
    rail           text   NOT NULL,  -- "stripe" or "paypal"
    referral_codes text[] NOT NULL,
    position       bigint NOT NULL   -- the definition's event
);

CREATE TABLE affiliate_conversions (
    order_id          text   PRIMARY KEY,
    affiliate_id      text   NOT NULL,
    customer_id       text   NOT NULL,
    currency          text   NOT NULL,
    base_minor        bigint NOT NULL,
    commission_minor  bigint NOT NULL,
    reversed_minor    bigint NOT NULL,
    open_disputes     int    NOT NULL DEFAULT 0,  -- disputes open on the order: its payout is held meanwhile
    recorded_unix_ms  bigint NOT NULL,
    position          bigint NOT NULL  -- the conversion's event
);
CREATE INDEX affiliate_conversions_by_affiliate ON affiliate_conversions (affiliate_id, position);
