-- Analytics (see docs/analytics.md): per-complaint facts and per-bucket counts, maintained in the same
-- transaction as the complaint events that change them (src/cases/facts.rs), so no analytic query scans
-- raw events. Portable SQL (SQLite and PostgreSQL); times in microseconds since the Unix epoch (UTC).

-- Whether the classifier abstained when a complaint was taken in (its category then came from a person).
ALTER TABLE complaint_events ADD COLUMN abstained BIGINT NOT NULL DEFAULT 0;

-- One row per complaint: what KPIs count. Flags are 0/1. The per-target SLA columns: `*_met` met on time,
-- `*_late` met after the due time, `*_due_us` the due time while not met (NULL when met or paused).
CREATE TABLE analytics_facts (
    complaint_id     TEXT PRIMARY KEY,
    created_at_us    BIGINT NOT NULL,
    region           TEXT NOT NULL DEFAULT '',
    category         TEXT NOT NULL DEFAULT '',
    cause_code       TEXT NOT NULL DEFAULT '',
    scenario_id      TEXT NOT NULL DEFAULT '',
    channel          TEXT NOT NULL DEFAULT '',
    handler_group    TEXT NOT NULL DEFAULT '',
    owner            TEXT NOT NULL DEFAULT '',
    cell_id          TEXT NOT NULL DEFAULT '',
    vas_provider     TEXT NOT NULL DEFAULT '',
    payment_channel  TEXT NOT NULL DEFAULT '',
    auto_detected    BIGINT NOT NULL DEFAULT 0,
    diagnosed        BIGINT NOT NULL DEFAULT 0,
    auto_replied     BIGINT NOT NULL DEFAULT 0,
    auto_reply_at_us BIGINT,
    repeated_7d      BIGINT NOT NULL DEFAULT 0,
    is_repeat        BIGINT NOT NULL DEFAULT 0,
    repeat_count     BIGINT NOT NULL DEFAULT 0,
    reopen_count     BIGINT NOT NULL DEFAULT 0,
    closed           BIGINT NOT NULL DEFAULT 0,
    closed_at_us     BIGINT,
    visit_outcome    TEXT NOT NULL DEFAULT '',
    fr_met           BIGINT NOT NULL DEFAULT 0,
    fr_late          BIGINT NOT NULL DEFAULT 0,
    fr_due_us        BIGINT,
    reply_met        BIGINT NOT NULL DEFAULT 0,
    reply_late       BIGINT NOT NULL DEFAULT 0,
    reply_due_us     BIGINT,
    res_met          BIGINT NOT NULL DEFAULT 0,
    res_late         BIGINT NOT NULL DEFAULT 0,
    res_due_us       BIGINT,
    major_issue_id   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX analytics_facts_created ON analytics_facts (created_at_us);
CREATE INDEX analytics_facts_cell ON analytics_facts (cell_id, category, created_at_us);
CREATE INDEX analytics_facts_vas ON analytics_facts (vas_provider, category, created_at_us);
CREATE INDEX analytics_facts_payment ON analytics_facts (payment_channel, category, created_at_us);
CREATE INDEX analytics_facts_issue ON analytics_facts (major_issue_id);

-- Complaints per bucket (grain 'h': the UTC hour; 'd': the Beijing day) of their creation, per region and
-- category, and per one more dimension: dim 'all' (value '') counts every complaint; 'cause', 'channel',
-- 'scenario', 'group', 'cell', 'vas_provider', 'payment_channel' count those with that value.
CREATE TABLE analytics_counts (
    grain     TEXT NOT NULL,
    dim       TEXT NOT NULL,
    bucket_us BIGINT NOT NULL,
    region    TEXT NOT NULL,
    category  TEXT NOT NULL,
    value     TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (grain, dim, bucket_us, region, category, value)
);

-- Major issues: complaints sharing a category and a place (cell, VAS provider, payment channel) within a
-- window, grouped into one item for the owning team; later complaints with the same key join it while it is
-- active (its last complaint within the window).
CREATE TABLE major_issues (
    issue_id      TEXT PRIMARY KEY,
    category      TEXT NOT NULL,
    place_dim     TEXT NOT NULL,
    place_value   TEXT NOT NULL,
    region        TEXT NOT NULL,
    owner_group   TEXT NOT NULL DEFAULT '',
    first_at_us   BIGINT NOT NULL,
    last_at_us    BIGINT NOT NULL,
    complaints    BIGINT NOT NULL
);
CREATE INDEX major_issues_key ON major_issues (place_dim, place_value, category, last_at_us);
CREATE INDEX major_issues_last ON major_issues (last_at_us);

-- Complaints taken in before this migration: their facts (without per-target SLA figures) and counts.
INSERT INTO analytics_facts (complaint_id, created_at_us, region, category, cause_code, scenario_id, channel,
    handler_group, owner, cell_id, vas_provider, payment_channel, is_repeat, repeat_count, reopen_count,
    closed, closed_at_us, visit_outcome, diagnosed, auto_replied)
SELECT c.complaint_id, c.created_at_us, c.region, c.category, c.cause_code, c.scenario_id, c.channel,
    c.handler_group, c.owner, c.cell_id, c.vas_provider, c.payment_channel,
    CASE WHEN c.repeat_of = '' THEN 0 ELSE 1 END, c.repeat_count, c.reopen_count,
    CASE WHEN c.state = 'closed' THEN 1 ELSE 0 END, c.closed_at_us, c.visit_outcome,
    CASE WHEN c.diagnoses > 0 THEN 1 ELSE 0 END,
    CASE WHEN EXISTS (SELECT 1 FROM complaint_events e WHERE e.complaint_id = c.complaint_id
        AND e.kind = 'diagnosed' AND e.reply_without_question = 1 AND e.cause_code <> '') THEN 1 ELSE 0 END
FROM complaint_cases c;
INSERT INTO analytics_counts (grain, dim, bucket_us, region, category, value, n)
SELECT 'h', 'all', (created_at_us / 3600000000) * 3600000000, region, category, '', COUNT(*)
FROM analytics_facts GROUP BY (created_at_us / 3600000000) * 3600000000, region, category;
INSERT INTO analytics_counts (grain, dim, bucket_us, region, category, value, n)
SELECT 'd', 'all', ((created_at_us + 28800000000) / 86400000000) * 86400000000 - 28800000000, region, category, '',
    COUNT(*)
FROM analytics_facts
GROUP BY ((created_at_us + 28800000000) / 86400000000) * 86400000000 - 28800000000, region, category;
