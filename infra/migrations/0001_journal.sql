-- The journal: append-only, the durable record of every event.
CREATE TABLE journal (
    position            bigint PRIMARY KEY,
    stream_id           text   NOT NULL,
    stream_version      bigint NOT NULL,
    event_id            text   NOT NULL UNIQUE,
    type                text   NOT NULL,
    schema_version      int    NOT NULL,
    occurred_at_unix_ms bigint NOT NULL,
    causation_id        text   NOT NULL,
    correlation_id      text   NOT NULL,
    actor               text   NOT NULL,
    payload             bytea  NOT NULL,
    prev_hash           bytea  NOT NULL,
    hash                bytea  NOT NULL,
    CONSTRAINT journal_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE FUNCTION journal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % refused', TG_OP;
END $$;

CREATE TRIGGER journal_no_update_delete BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();

-- One row: the last position handed out. Its row lock, held from append to
-- commit, serialises appends so positions become visible in commit order.
CREATE TABLE journal_head (
    id       int PRIMARY KEY CHECK (id = 1),
    position bigint NOT NULL
);
INSERT INTO journal_head VALUES (1, 0);

-- Latest state of each stream, locked FOR UPDATE by the batch that writes it.
CREATE TABLE snapshots (
    stream_id text PRIMARY KEY,
    version   bigint NOT NULL,
    state     bytea  NOT NULL,
    last_hash bytea  NOT NULL
);

-- Permanent idempotency records: (principal, Idempotency-Key) -> first response.
CREATE TABLE idempotency (
    principal  text   NOT NULL,
    key        text   NOT NULL,
    body_hash  bytea  NOT NULL,
    status     int    NOT NULL,
    response   text   NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

-- Who may call: re-read on every request; bumping session_version revokes tokens.
CREATE TABLE principals (
    id              text PRIMARY KEY,
    role            text NOT NULL CHECK (role IN ('admin','employee','vendor','affiliate','customer','auditor')),
    permissions     text NOT NULL DEFAULT '',
    session_version int  NOT NULL DEFAULT 1,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Relay progress: what Kafka acknowledged, overall and per partition.
CREATE TABLE relay_progress (
    topic     text   NOT NULL,
    partition int    NOT NULL,   -- -1 holds the global watermark
    position  bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Projector checkpoints, written in the same transaction as the projection.
CREATE TABLE projector_checkpoints (
    projector    text   NOT NULL,
    partition    int    NOT NULL,
    position     bigint NOT NULL,
    kafka_offset bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, partition)
);
