-- Scheduled reconciliation (commands/reconcile_job.h): one row per pass, written by the
-- job's owner through its lock session. GET /v1/reconcile/last reads the newest.
CREATE TABLE reconcile_runs (
    id                  bigserial PRIMARY KEY,
    owner               text    NOT NULL,
    finished_at_unix_ms bigint  NOT NULL,
    duration_ms         bigint  NOT NULL,
    head                bigint  NOT NULL,   -- the journal position reconciled up to
    events_folded       bigint  NOT NULL,   -- by this pass (incremental after the first)
    clean               boolean NOT NULL,
    drifting            bigint  NOT NULL,
    report              jsonb   NOT NULL    -- projectors/reconcile.h to_json (at most 1000 drifts)
);
