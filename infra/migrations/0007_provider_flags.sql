-- Projector "orders": provider messages an order could not take (ProviderSignalFlagged),
-- for operators: a payment after a cancellation, a second payment, an amount that does
-- not match. Money may sit at the provider; none of these may go unseen.
CREATE TABLE provider_flags (
    position            bigint PRIMARY KEY,
    order_id            text   NOT NULL,
    reason              text   NOT NULL,
    provider_event_id   text   NOT NULL,
    provider_type       text   NOT NULL,
    object_id           text   NOT NULL,
    amount_minor        bigint NOT NULL,
    currency            text   NOT NULL,
    occurred_at_unix_ms bigint NOT NULL
);
CREATE INDEX provider_flags_newest ON provider_flags (occurred_at_unix_ms DESC);
