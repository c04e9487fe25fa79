"""Close two ways the application's own role could get around audit_logs' triggers (0002).

Both allowances were custom settings, which any role may set:
- TRUNCATE now also needs a superuser session. The test suite runs as one on its throw-away database;
  the application role in production is not one, so for it TRUNCATE is refused whatever it sets.
- The archive's DELETE now also needs the row to be older than the shortest retention the archive job
  accepts (audit.archive.MIN_ARCHIVE_DAYS). A misused application role can then remove nothing recent,
  which is what an investigation needs; older rows leave only as the archive takes them.
"""

from django.db import migrations

from calsync.lib.migrations import PostgresOnlySQL

HARDENED = """
CREATE OR REPLACE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('calsync.audit_archive', true) = txid_current()::text
       AND OLD.created_at < now() - interval '30 days' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE'
       AND current_setting('calsync.audit_truncate', true) = 'on'
       AND (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit rows leave only through the archive job (archive_audit_logs), after 30 days.';
END;
$$;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('calsync.audit_archive', true) = txid_current()::text THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_setting('calsync.audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit rows leave only through the archive job (archive_audit_logs).';
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_connection_actions")]

    operations = [PostgresOnlySQL(HARDENED, reverse_sql=PREVIOUS)]
