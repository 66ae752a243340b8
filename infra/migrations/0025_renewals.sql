-- A subscription's renewal order (period > 0) is settled by dunning, not by the payment
-- window: the expiry sweep passes it by (commands/expiry_sweep.cpp).
ALTER TABLE orders ADD COLUMN renewal boolean NOT NULL DEFAULT false;

-- Dunning's retries: the period's intent confirmed again under the retry's key.
ALTER TABLE provider_calls DROP CONSTRAINT provider_calls_kind_check;
ALTER TABLE provider_calls ADD CONSTRAINT provider_calls_kind_check
    CHECK (kind IN ('payment_intent','cancel_intent','refund','transfer','request_payout',
                    'affiliate_transfer','paypal_payout','renewal_retry'));
