-- The audit trail's hash chain (src/identity/chain.rs): each event's place (seq, 1, 2, 3, … per store),
-- the previous event's hash and its own. Events written before this migration have no seq and are not
-- covered; `complaint-gateway audit verify` counts them. seq is unique, so two writers cannot both extend
-- the chain from the same head.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);
