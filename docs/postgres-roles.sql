-- A PostgreSQL set-up in which the gateway can append to the audit trail but not rewrite it
-- (docs/security.md). Two roles: cgw_owner owns the database and its tables and runs the migrations;
-- cgw_gateway is the login in `[store] url` (with `migrate = false`). tests/audit_chain.rs runs this file.
--
-- 1. As a superuser:
--      CREATE ROLE cgw_owner LOGIN PASSWORD '…';
--      CREATE ROLE cgw_gateway LOGIN PASSWORD '…';
--      CREATE DATABASE gateway OWNER cgw_owner;
-- 2. As cgw_owner:  complaint-gateway store migrate --url postgres://cgw_owner:…@db/gateway
-- 3. As cgw_owner, in the gateway database: this file (again after every `store migrate` that adds tables).
GRANT USAGE ON SCHEMA public TO cgw_gateway;
-- Identities, operator IDs, complaint records: the gateway reads and changes them.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cgw_gateway;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO cgw_gateway;
-- The audit trail: append and read only. Not being the owner, the gateway cannot ALTER the table
-- (DISABLE TRIGGER), drop its triggers or grant itself more.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM cgw_gateway;
-- The schema's history: read only (the gateway checks it is current at start-up).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM cgw_gateway;
