"""Make audit_logs append-only in the database itself (PostgreSQL; SQLite, the demo default, skips this).

- UPDATE: always refused.
- DELETE: refused unless `calsync.audit_archive` holds the id of the current transaction, which only
  the archive job sets (`SELECT set_config('calsync.audit_archive', txid_current()::text, true)`), after
  writing and verifying the archive. Naming the transaction means a setting left on a pooled connection
  by mistake (a session-level SET) lets nothing through in the next transaction.
- TRUNCATE: refused unless `calsync.audit_truncate = 'on'`. Nothing in the app sets it; the test suite sets
  it on its throw-away test database so Django can empty tables between transactional tests.

These guard against mistakes and bugs in the application. The role that owns the table can still drop
the triggers; a separate, non-owning application role is the defence against that.
"""

from django.db import migrations

from calsync.lib.migrations import PostgresOnlySQL

CREATE = """
CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER audit_logs_refuse_update_delete
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();

CREATE TRIGGER audit_logs_refuse_truncate
    BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS audit_logs_refuse_truncate ON audit_logs;
DROP TRIGGER IF EXISTS audit_logs_refuse_update_delete ON audit_logs;
DROP FUNCTION IF EXISTS audit_logs_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [PostgresOnlySQL(CREATE, reverse_sql=DROP)]
