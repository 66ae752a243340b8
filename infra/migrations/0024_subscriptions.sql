-- Subscriptions (domain/subscription.h). The projection (projectors/subscriptions_projection.h)
-- folds each subscription's stream through the domain's evolve and keeps the state whole,
-- with the columns reads and the renewal scheduler filter and order by beside it.
CREATE TABLE subscriptions (
  subscription_id  text   PRIMARY KEY,
  customer_id      text   NOT NULL,
  status           text   NOT NULL,          -- active | paused | past_due | cancelled
  interval         text   NOT NULL,
  currency         text   NOT NULL,
  next_period      bigint NOT NULL,
  next_due_unix_ms bigint NOT NULL,          -- when the scheduler next has something to do; max bigint: never
  started_unix_ms  bigint NOT NULL,
  state            bytea  NOT NULL,          -- tally.v1.SubscriptionState
  position         bigint NOT NULL
);
CREATE INDEX subscriptions_by_customer ON subscriptions (customer_id, subscription_id);
CREATE INDEX subscriptions_by_status ON subscriptions (status, next_due_unix_ms, subscription_id);
CREATE INDEX subscriptions_due ON subscriptions (next_due_unix_ms, subscription_id) WHERE status <> 'cancelled';

-- Every period of every subscription: renewed (its order), skipped (why), failed (the
-- last code and how many attempts failed), paid.
CREATE TABLE subscription_renewals (
  subscription_id text   NOT NULL,
  period          bigint NOT NULL,
  order_id        text   NOT NULL,           -- '' when skipped
  status          text   NOT NULL,           -- placed | paid | failed | skipped
  note            text   NOT NULL,
  attempts_failed int    NOT NULL,
  at_unix_ms      bigint NOT NULL,           -- when the period was renewed or skipped
  position        bigint NOT NULL,
  PRIMARY KEY (subscription_id, period)
);

-- The principal the renewal scheduler and subscription cancellations act as.
INSERT INTO principals (id, role, permissions) VALUES ('system:subscriptions', 'system', '') ON CONFLICT DO NOTHING;
