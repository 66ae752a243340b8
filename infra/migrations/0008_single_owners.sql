-- One owner per background job, fenced (issue 10).
--
-- Projector partitions: which process applies which partition now (for operators; the
-- fence itself is the checkpoint row, locked by every apply).
CREATE TABLE projector_owners (
    projector text        NOT NULL,
    partition int         NOT NULL,
    owner     text        NOT NULL,
    since     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, partition)
);

-- The relay: each leader takes the next epoch when it wins the advisory lock, and
-- publishes only while the stored epoch is still its own.
CREATE TABLE relay_leader (
    topic  text        PRIMARY KEY,
    epoch  bigint      NOT NULL,
    owner  text        NOT NULL,
    since  timestamptz NOT NULL DEFAULT now()
);

-- Provider calls: every claim takes a new token; only the holder of the latest claim
-- may record the outcome (a worker whose lease ran out while it was paused may not).
ALTER TABLE provider_calls ADD COLUMN claim bigint NOT NULL DEFAULT 0;

-- The payment-window sweep cancels as this principal.
INSERT INTO principals (id, role, permissions) VALUES ('system:sweeper', 'system', '') ON CONFLICT DO NOTHING;
