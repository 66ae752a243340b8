-- Projector "orders": refunds made at the provider that tally did not issue, booked as
-- ExternalRefundRecorded, for staff (GET /v1/operator/external-refunds).
CREATE TABLE external_refunds (
    position            bigint PRIMARY KEY,
    order_id            text   NOT NULL,
    provider_event_id   text   NOT NULL,
    charge_id           text   NOT NULL,
    amount_minor        bigint NOT NULL,
    currency            text   NOT NULL,
    occurred_at_unix_ms bigint NOT NULL
);
CREATE INDEX external_refunds_by_time ON external_refunds (occurred_at_unix_ms DESC);
