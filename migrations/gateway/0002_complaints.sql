-- Complaint records (diagnosis): one row per complaint, updated when the same complaint is diagnosed again
-- (for instance with the answers to its questions). The basis for hotspot and cause analytics.
-- Portable SQL (SQLite and PostgreSQL), times in microseconds since the Unix epoch (UTC), flags 0/1.
-- Neither the subscriber's number nor the complaint text is kept.
CREATE TABLE complaints (
    complaint_id           TEXT PRIMARY KEY,
    first_at_us            BIGINT NOT NULL,
    last_at_us             BIGINT NOT NULL,
    -- The authenticated caller; '' when the gateway runs without authentication.
    caller                 TEXT NOT NULL DEFAULT '',
    -- The subscriber's city code (customer.region_code).
    region                 TEXT NOT NULL DEFAULT '',
    category               TEXT NOT NULL,
    confidence             DOUBLE PRECISION NOT NULL,
    -- 'request' or 'classifier'.
    category_source        TEXT NOT NULL,
    scenario_id            TEXT NOT NULL DEFAULT '',
    cause_code             TEXT NOT NULL DEFAULT '',
    -- 'cause', 'question' or 'no_cause'.
    outcome                TEXT NOT NULL,
    -- 1 when a reply was produced without asking the customer anything.
    reply_without_question BIGINT NOT NULL DEFAULT 0,
    answers                BIGINT NOT NULL DEFAULT 0,
    diagnoses              BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX complaints_category ON complaints (category, last_at_us);
CREATE INDEX complaints_cause ON complaints (scenario_id, cause_code, last_at_us);
CREATE INDEX complaints_region ON complaints (region, last_at_us);
