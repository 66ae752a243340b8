-- Affiliate payouts (commands/affiliate_payout.h).
-- The scheduler is a principal: its payout commands go through the pipeline.
INSERT INTO principals (id, role, permissions) VALUES ('system:payouts', 'system', '') ON CONFLICT DO NOTHING;

-- The provider workers carry payouts out: a Stripe transfer to the connected account, or
-- a PayPal Payouts batch. Their rows name the affiliate instead of an order.
ALTER TABLE provider_calls DROP CONSTRAINT provider_calls_kind_check;
ALTER TABLE provider_calls ADD CONSTRAINT provider_calls_kind_check
    CHECK (kind IN ('payment_intent','cancel_intent','refund','transfer','request_payout',
                    'affiliate_transfer','paypal_payout'));
ALTER TABLE provider_calls ADD COLUMN affiliate_id text NOT NULL DEFAULT '';

-- Projector "affiliates": what each conversion paid out, and the payouts.
ALTER TABLE affiliate_conversions ADD COLUMN paid_minor bigint NOT NULL DEFAULT 0;
CREATE TABLE affiliate_payouts (
    payout_id      text   PRIMARY KEY,   -- affiliate-payout-{affiliate}-{yyyy-mm-dd}
    affiliate_id   text   NOT NULL,
    payout_date    text   NOT NULL,
    currency       text   NOT NULL,
    amount_minor   bigint NOT NULL,
    returned_minor bigint NOT NULL,      -- of it, from earlier payouts that failed or came back
    rail           text   NOT NULL,      -- "stripe" or "paypal"
    status         text   NOT NULL,      -- requested, paid, failed, reversed
    object_id      text   NOT NULL DEFAULT '',
    orders         int    NOT NULL,
    requested_unix_ms bigint NOT NULL,
    position       bigint NOT NULL       -- the latest event about it
);
CREATE INDEX affiliate_payouts_by_affiliate ON affiliate_payouts (affiliate_id, payout_date DESC);

-- PayPal's webhooks are submitted as this principal (Stripe's is provider:stripe).
INSERT INTO principals (id, role, permissions) VALUES ('provider:paypal', 'provider', '') ON CONFLICT DO NOTHING;
