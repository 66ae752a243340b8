-- Read models of the store-credit slice. Rebuilt by projectors; never the truth.
CREATE TABLE credit_balances (
    customer_id   text   PRIMARY KEY,
    currency      text   NOT NULL,
    balance_minor bigint NOT NULL,
    entries_count bigint NOT NULL,
    last_position bigint NOT NULL
);

CREATE TABLE credit_entries (
    customer_id         text   NOT NULL,
    position            bigint NOT NULL,
    event_id            text   NOT NULL,
    kind                text   NOT NULL,
    amount_minor        bigint NOT NULL,
    currency            text   NOT NULL,
    balance_after_minor bigint NOT NULL,
    reason              text   NOT NULL,
    actor               text   NOT NULL,
    occurred_at_unix_ms bigint NOT NULL,
    PRIMARY KEY (customer_id, position)
);

CREATE TABLE ledger_accounts (
    account        text   NOT NULL,
    currency       text   NOT NULL,
    debit_minor    bigint NOT NULL,
    credit_minor   bigint NOT NULL,
    postings_count bigint NOT NULL,
    PRIMARY KEY (account, currency)
);
