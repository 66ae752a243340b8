-- Rate-limit token buckets shared by every tallyd on this database (TALLY_RATE_LIMIT=postgres).
-- Not business data: losing them only refills every bucket. Unlogged: no WAL for them.
CREATE UNLOGGED TABLE rate_buckets (
    key          text   PRIMARY KEY,
    tokens_milli bigint NOT NULL,   -- tokens left, in thousandths
    stamp_ms     bigint NOT NULL,   -- unix milliseconds of the last take
    taken_milli  bigint NOT NULL    -- what the last take got (whole tokens, in thousandths)
);
