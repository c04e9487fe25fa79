"""The audit triggers hold against the application's own database role, as production should run it.

tests/test_audit_log.py checks the triggers as the test user, a superuser that owns the table. Here the
statements come from a fresh role that neither owns audit_logs nor is a superuser, and that holds every
table privilege (TRUNCATE included), so a refusal can only come from the trigger.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from audit.models import AuditAction, AuditLog
from audit.services import record

# The trigger's own words (audit migrations 0002 and 0004): a missing privilege reads differently.
TRIGGER_REFUSAL = "audit_logs is append-only: {} refused"

pytestmark = pytest.mark.django_db(transaction=True)  # the role's connection must see the rows we write


def as_admin(statement: sql.Composable) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection))


@pytest.fixture
def app_role(transactional_db) -> Iterator[str]:
    """A login role with an application's privileges on audit_logs, dropped again however the test ends."""
    name = f"calsync_app_{secrets.token_hex(6)}"  # roles are cluster-wide: never clash with a parallel run
    role = sql.Identifier(name)
    as_admin(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(role))
    try:
        as_admin(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        as_admin(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON audit_logs TO {}").format(role))
        as_admin(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(role))
        # conftest turns calsync.audit_truncate on for the whole test database, so every role connecting to it
        # would start with it on. Production sets it nowhere; this role-in-database setting takes precedence
        # over the database's and puts the role back in that position.
        as_admin(
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET calsync.audit_truncate = 'off'").format(
                role, sql.Identifier(connection.settings_dict["NAME"])
            )
        )
        yield name
    finally:
        as_admin(sql.SQL("DROP OWNED BY {}").format(role))  # revokes its grants in this database
        as_admin(sql.SQL("DROP ROLE {}").format(role))  # and takes its role-in-database setting with it


@pytest.fixture
def app_db(app_role: str) -> Iterator[psycopg.Connection]:
    """A connection as the application role (trust auth on loopback: no password)."""
    database = connection.settings_dict
    with psycopg.connect(
        host="127.0.0.1", port=database["PORT"] or 5432, dbname=database["NAME"], user=app_role, autocommit=True
    ) as conn:
        yield conn


def run(conn: psycopg.Connection, statement: str, params: tuple | None = ()) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def test_the_role_is_neither_superuser_nor_owner(app_db, app_role):
    (is_superuser, bypasses_rls) = run(
        app_db, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (app_role,)
    )[0]
    (owner,) = run(app_db, "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_logs'")[0]
    assert (is_superuser, bypasses_rls) == (False, False)
    assert owner != app_role
    assert run(app_db, "SELECT current_user")[0][0] == app_role


def test_the_application_role_can_write_but_not_change_or_remove_audit_rows(app_db, owner):
    with CaptureQueriesContext(connection) as queries:
        row = record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)
    # As production: the allowance is not on for this role (see the app_role fixture).
    assert run(app_db, "SELECT current_setting('calsync.audit_truncate', true)")[0][0] != "on"

    # INSERT: the very statement record() just sent (Django binds parameters client-side), replayed as the role.
    (insert,) = (query["sql"] for query in queries.captured_queries if query["sql"].startswith("INSERT"))
    (inserted_id,) = run(app_db, insert, None)[0]
    assert inserted_id != row.pk
    assert AuditLog.objects.get(pk=inserted_id).action == AuditAction.ACCOUNT_SIGNED_IN

    attempts = {
        "UPDATE": ("UPDATE audit_logs SET action = 'account.deleted' WHERE id = %s", (row.pk,)),
        "DELETE": ("DELETE FROM audit_logs WHERE id = %s", (row.pk,)),
        "TRUNCATE": ("TRUNCATE audit_logs", ()),
    }
    for operation, (statement, params) in attempts.items():
        # 42501 is also the code of a plain "permission denied", so the message tells the trigger apart.
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            run(app_db, statement, params)
        assert caught.value.diag.message_primary == TRIGGER_REFUSAL.format(operation)
        assert "audit_logs_refuse_change()" in (caught.value.diag.context or "")

    row.refresh_from_db()
    assert (row.action, row.actor_email) == (AuditAction.ACCOUNT_SIGNED_IN, owner.email)
    assert AuditLog.objects.count() == 2


def test_the_application_role_cannot_open_the_allowances_by_setting_them(app_db, owner):
    # Both allowances are custom settings, which any role may set: the trigger also asks for a superuser
    # (TRUNCATE) and for a row older than the archive's shortest retention (DELETE).
    row = record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught, app_db.transaction():
        run(app_db, "SET LOCAL calsync.audit_truncate = 'on'")
        run(app_db, "TRUNCATE audit_logs")
    assert caught.value.diag.message_primary == TRIGGER_REFUSAL.format("TRUNCATE")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught, app_db.transaction():
        run(app_db, "SELECT set_config('calsync.audit_archive', txid_current()::text, true)")
        run(app_db, "DELETE FROM audit_logs WHERE id = %s", (row.pk,))
    assert caught.value.diag.message_primary == TRIGGER_REFUSAL.format("DELETE")
    assert AuditLog.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize(
    ("statement", "denial"),
    [
        pytest.param(
            "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_refuse_update_delete",
            "must be owner of table audit_logs",
            id="disable-update-delete-trigger",
        ),
        pytest.param(
            "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_refuse_truncate",
            "must be owner of table audit_logs",
            id="disable-truncate-trigger",
        ),
        pytest.param(
            "ALTER TABLE audit_logs DISABLE TRIGGER ALL", "must be owner of table audit_logs", id="disable-all-triggers"
        ),
        pytest.param(
            "DROP TRIGGER audit_logs_refuse_update_delete ON audit_logs",
            "must be owner of relation audit_logs",
            id="drop-trigger",
        ),
        pytest.param(
            "CREATE OR REPLACE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN COALESCE(NEW, OLD); END; $$",
            # Without CREATE on the schema; were it granted, replacing would still need the function's owner.
            "permission denied for schema public",
            id="replace-trigger-function",
        ),
        pytest.param(
            # Replica mode skips ordinary triggers; only a superuser may choose it.
            "SET session_replication_role = replica",
            'permission denied to set parameter "session_replication_role"',
            id="replica-mode",
        ),
    ],
)
def test_the_application_role_cannot_switch_the_triggers_off(app_db, statement, denial):
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        run(app_db, statement)
    assert caught.value.diag.message_primary == denial
    enabled = run(app_db, "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_logs'::regclass")
    assert sorted(enabled) == [("audit_logs_refuse_truncate", "O"), ("audit_logs_refuse_update_delete", "O")]
