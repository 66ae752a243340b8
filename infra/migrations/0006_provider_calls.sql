-- Provider calls the log asks for (a PaymentIntent per order to pay, a Refund per card
-- refund or paid cancellation, a Transfer per vendor payout) and the payout schedule.
-- Filled by the "provider_calls" consumer from Kafka in the same transaction as its
-- checkpoint; worked by the provider workers with exponential backoff. A call that keeps
-- failing, or that the provider refuses, is parked: status 'dead' is the dead-letter
-- queue an operator lists and retries (GET /v1/operator/dead-letters).
CREATE TABLE provider_calls (
    id              bigserial PRIMARY KEY,
    key             text   NOT NULL UNIQUE,   -- the provider Idempotency-Key; one call per key, ever
    kind            text   NOT NULL CHECK (kind IN ('payment_intent','cancel_intent','refund','transfer','request_payout')),
    order_id        text   NOT NULL,
    vendor_id       text   NOT NULL DEFAULT '',
    amount_minor    bigint NOT NULL DEFAULT 0 CHECK (amount_minor >= 0),
    currency        text   NOT NULL DEFAULT '',
    source_position bigint NOT NULL,          -- the journal event that asked for it
    status          text   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','done','dead')),
    attempts        int    NOT NULL DEFAULT 0,
    due_at          timestamptz NOT NULL DEFAULT now(),
    last_error      text   NOT NULL DEFAULT '',
    object_id       text   NOT NULL DEFAULT '',  -- what the provider created: pi_…, re_…, tr_…
    client_secret   text   NOT NULL DEFAULT '',  -- a PaymentIntent's, for the storefront
    operator_retries int   NOT NULL DEFAULT 0,   -- times an operator sent it back from the dead letters
    retried_by      text   NOT NULL DEFAULT '',  -- the last operator who did
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_calls_due ON provider_calls (due_at, id) WHERE status = 'pending';
CREATE INDEX provider_calls_dead ON provider_calls (updated_at DESC) WHERE status = 'dead';
CREATE INDEX provider_calls_by_order ON provider_calls (order_id, kind);
CREATE INDEX provider_calls_by_object ON provider_calls (object_id) WHERE object_id <> '';

-- The workers are a principal: the commands they submit (recording what the provider
-- created, requesting a due payout) go through the pipeline like any other.
ALTER TABLE principals DROP CONSTRAINT principals_role_check;
ALTER TABLE principals ADD CONSTRAINT principals_role_check
    CHECK (role IN ('admin','employee','vendor','affiliate','customer','auditor','provider','system'));
INSERT INTO principals (id, role, permissions) VALUES ('system:workers', 'system', '') ON CONFLICT DO NOTHING;

-- Projector "orders": each order's PaymentIntent. Its own table, upserted, because the
-- event that names the intent (stream "provider-request-…") may be consumed before the
-- order's OrderPlaced (another partition).
CREATE TABLE order_payment_intents (
    order_id          text   PRIMARY KEY,
    payment_intent_id text   NOT NULL,
    position          bigint NOT NULL
);
