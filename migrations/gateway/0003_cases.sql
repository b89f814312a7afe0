-- Complaint cases (see docs/complaints.md): every change to a complaint is an append-only event in
-- `complaint_events`; `complaint_cases` is the projection of a case's events (state, owner, deadlines) that
-- lists and filters read. The projection is recomputed from the events on every change, so it can be
-- rebuilt (replayed) at any time, for instance after a calendar changes.
-- Portable SQL (SQLite and PostgreSQL): text, BIGINT, DOUBLE PRECISION; times in microseconds since the
-- Unix epoch (UTC); flags 0/1. The append-only triggers differ per engine: src/store.rs installs them.

-- One row per event. `seq` counts a complaint's events from 1. The analytic columns (region, channel,
-- category, cause, group, cell, provider, payment channel) are a snapshot of the complaint when the event
-- happened, so analytics never has to join. `msisdn` is stored (a subscriber's history needs it) and
-- protected like other personal data: masked for callers without read_pii, never logged.
CREATE TABLE complaint_events (
    complaint_id    TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    at_us           BIGINT NOT NULL,
    -- created, routed, diagnosed, assigned, transitioned, note, reply_sent, return_visit, reopened,
    -- repeat_reported
    kind            TEXT NOT NULL,
    -- The authenticated caller ('' when unknown, e.g. records from before cases existed).
    caller          TEXT NOT NULL DEFAULT '',
    region          TEXT NOT NULL DEFAULT '',
    msisdn          TEXT NOT NULL DEFAULT '',
    channel         TEXT NOT NULL DEFAULT '',
    category        TEXT NOT NULL DEFAULT '',
    confidence      DOUBLE PRECISION NOT NULL DEFAULT 0,
    category_source TEXT NOT NULL DEFAULT '',
    scenario_id     TEXT NOT NULL DEFAULT '',
    cause_code      TEXT NOT NULL DEFAULT '',
    -- A diagnosis's outcome: cause, question, no_cause.
    diag_outcome    TEXT NOT NULL DEFAULT '',
    reply_without_question BIGINT NOT NULL DEFAULT 0,
    answers         BIGINT NOT NULL DEFAULT 0,
    handler_group   TEXT NOT NULL DEFAULT '',
    owner           TEXT NOT NULL DEFAULT '',
    priority        BIGINT NOT NULL DEFAULT 0,
    policy_id       TEXT NOT NULL DEFAULT '',
    from_state      TEXT NOT NULL DEFAULT '',
    to_state        TEXT NOT NULL DEFAULT '',
    -- Why (a transition's reason, the routing rule), or a note's text; the complaint text on `created`.
    reason          TEXT NOT NULL DEFAULT '',
    -- return_visit: satisfied, unsatisfied, unreachable.
    visit_outcome   TEXT NOT NULL DEFAULT '',
    -- created: the earlier complaint this one repeats; repeat_reported: the new one.
    related_id      TEXT NOT NULL DEFAULT '',
    vip_level       BIGINT NOT NULL DEFAULT 0,
    cell_id         TEXT NOT NULL DEFAULT '',
    vas_provider    TEXT NOT NULL DEFAULT '',
    payment_channel TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (complaint_id, seq)
);
CREATE INDEX complaint_events_at ON complaint_events (at_us);
CREATE INDEX complaint_events_kind ON complaint_events (kind, at_us);
CREATE INDEX complaint_events_region ON complaint_events (region, at_us);

-- The projection of each case's events (never written except together with a new event).
CREATE TABLE complaint_cases (
    complaint_id    TEXT PRIMARY KEY,
    msisdn          TEXT NOT NULL,
    region          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    text            TEXT NOT NULL DEFAULT '',
    category        TEXT NOT NULL DEFAULT '',
    cause_code      TEXT NOT NULL DEFAULT '',
    scenario_id     TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    handler_group   TEXT NOT NULL DEFAULT '',
    owner           TEXT NOT NULL DEFAULT '',
    priority        BIGINT NOT NULL DEFAULT 0,
    policy_id       TEXT NOT NULL DEFAULT '',
    vip_level       BIGINT NOT NULL DEFAULT 0,
    repeat_of       TEXT NOT NULL DEFAULT '',
    repeat_count    BIGINT NOT NULL DEFAULT 0,
    reopen_count    BIGINT NOT NULL DEFAULT 0,
    diagnoses       BIGINT NOT NULL DEFAULT 0,
    replied         BIGINT NOT NULL DEFAULT 0,
    visit_outcome   TEXT NOT NULL DEFAULT '',
    visit_attempts  BIGINT NOT NULL DEFAULT 0,
    created_at_us   BIGINT NOT NULL,
    updated_at_us   BIGINT NOT NULL,
    closed_at_us    BIGINT,
    -- The earliest due time of a target not yet met (NULL while the clock is paused or all are met),
    -- when it turns at risk, and the same as a sort key (the largest BIGINT when NULL).
    next_due_us     BIGINT,
    next_warn_us    BIGINT,
    sort_due_us     BIGINT NOT NULL,
    -- 1 when a target was met after its due time.
    breached_late   BIGINT NOT NULL DEFAULT 0,
    cell_id         TEXT NOT NULL DEFAULT '',
    vas_provider    TEXT NOT NULL DEFAULT '',
    payment_channel TEXT NOT NULL DEFAULT '',
    -- The number of events: a change is written only if nobody changed the case since it was read.
    version         BIGINT NOT NULL
);
CREATE INDEX complaint_cases_due ON complaint_cases (sort_due_us, complaint_id);
CREATE INDEX complaint_cases_region_due ON complaint_cases (region, sort_due_us, complaint_id);
CREATE INDEX complaint_cases_state_due ON complaint_cases (state, sort_due_us, complaint_id);
CREATE INDEX complaint_cases_msisdn ON complaint_cases (msisdn, created_at_us);
CREATE INDEX complaint_cases_created ON complaint_cases (created_at_us);

-- The diagnosis records of migration 0002 become `diagnosed` events (their number was never kept).
INSERT INTO complaint_events (complaint_id, seq, at_us, kind, caller, region, category, confidence,
    category_source, scenario_id, cause_code, diag_outcome, reply_without_question, answers)
SELECT complaint_id, 1, last_at_us, 'diagnosed', caller, region, category, confidence, category_source,
    scenario_id, cause_code, outcome, reply_without_question, answers
FROM complaints;
DROP TABLE complaints;
