-- The gateway's own store: identities, their operator IDs in each backend system, and the audit trail.
-- Portable SQL (SQLite and PostgreSQL): text, BIGINT, no engine-specific types. Times are microseconds
-- since the Unix epoch (UTC). The append-only triggers on audit_events differ per engine, so
-- src/store.rs installs them right after the migrations run.

-- Who may call the gateway. Roles and regions are comma-separated lists ("handler,manager", "0571,0574").
-- A registered identity caps what its credentials claim (roles and regions are intersected) and can be
-- disabled without revoking keys.
CREATE TABLE identities (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL DEFAULT '',
    roles         TEXT NOT NULL DEFAULT '',
    regions       TEXT NOT NULL DEFAULT '',
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);

-- A handler's operator ID in one backend system; `city` is '' for "every city" or a city code where
-- the system issues per-city employee IDs.
CREATE TABLE operator_ids (
    identity_id   TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    system        TEXT NOT NULL,
    city          TEXT NOT NULL DEFAULT '',
    operator_id   TEXT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (identity_id, system, city)
);

-- One row per read (and per administrative change). Append-only: no code path updates or deletes,
-- and triggers reject UPDATE and DELETE. event_id starts with the time in hex, so it sorts by time.
CREATE TABLE audit_events (
    event_id    TEXT PRIMARY KEY,
    at_us       BIGINT NOT NULL,
    caller      TEXT NOT NULL,
    auth_method TEXT NOT NULL DEFAULT '',
    roles       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    msisdn      TEXT NOT NULL DEFAULT '',
    region      TEXT NOT NULL DEFAULT '',
    sources     TEXT NOT NULL DEFAULT '',
    purpose     TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    peer        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at_us);
CREATE INDEX audit_events_caller ON audit_events (caller, at_us);
CREATE INDEX audit_events_msisdn ON audit_events (msisdn, at_us);
