-- The application's database role: it reads and writes rows, owns nothing and is no superuser, so it cannot
-- switch off, replace or get around the triggers that keep audit_logs append-only (audit migrations 0002, 0004).
--
-- Run it as the role that owns calsync's tables (the one `manage.py migrate` runs as), after every migrate:
--
--   CALSYNC_APP_DB_PASSWORD=... psql -v ON_ERROR_STOP=1 -v app_role=calsync_app -f deploy/postgres/app-role.sql
--
-- With CALSYNC_APP_DB_PASSWORD set, it also creates the role (or resets its password and attributes), which needs
-- CREATEROLE; without it, the role must exist already (a managed database's console can create it).
-- docker-compose.yml runs it in its `grants` service; tests/test_audit_role.py runs this very file.

\set ON_ERROR_STOP on
\if :{?app_role}
\else
    \warn 'Give the role to grant to: psql -v app_role=calsync_app ...'
    \quit
\endif

\getenv app_password CALSYNC_APP_DB_PASSWORD
\if :{?app_password}
SELECT format('CREATE ROLE %I', :'app_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
\endif

-- Rows only: no CREATE on the schema, no TRUNCATE, REFERENCES or TRIGGER on any table.
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
-- Tables and sequences a later migrate creates get the same (this file runs again after it anyway).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO :"app_role";

-- audit_logs is append-only: rows are added, read, and removed only by the archive job, whose DELETE the trigger
-- allows for rows past the shortest retention, in the archive's own transaction. Never changed, never emptied.
REVOKE ALL ON audit_logs FROM :"app_role";
GRANT SELECT, INSERT, DELETE ON audit_logs TO :"app_role";
