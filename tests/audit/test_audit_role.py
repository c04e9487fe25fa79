"""The audit triggers hold against the application's own database role, as production should run it.

tests/audit/test_audit_log.py checks the triggers as the test user, a superuser that owns the table. Here the
statements come from fresh roles that neither own audit_logs nor are superusers: one that holds every
table privilege (TRUNCATE included), so a refusal can only come from the trigger; and one made by the
grants that ship (deploy/postgres/app-role.sql, which docker-compose.yml runs), run here with psql as there.
`check --deploy` warns for a role that could alter the log and is quiet for the shipped one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from audit.models import AuditAction, AuditLog
from audit.services import record
from fakes.processes import ROOT

# The trigger's own words (audit migrations 0002 and 0004): a missing privilege reads differently.
TRIGGER_REFUSAL = "audit_logs is append-only: {} refused"

pytestmark = pytest.mark.django_db(transaction=True)  # the role's connection must see the rows we write


def as_admin(statement: sql.Composable) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection))


APP_ROLE_SQL = ROOT / "deploy" / "postgres" / "app-role.sql"


def new_role_name() -> str:
    return f"calsync_app_{secrets.token_hex(6)}"  # roles are cluster-wide: never clash with a parallel run


@contextmanager
def dropped_afterwards(name: str) -> Iterator[None]:
    """Put the role as production has it, then drop it again however the test ends."""
    role = sql.Identifier(name)
    try:
        # conftest turns calsync.audit_truncate on for the whole test database, so every role connecting to it
        # would start with it on. Production sets it nowhere; this role-in-database setting takes precedence
        # over the database's and puts the role back in that position.
        as_admin(
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET calsync.audit_truncate = 'off'").format(
                role, sql.Identifier(connection.settings_dict["NAME"])
            )
        )
        yield
    finally:
        as_admin(sql.SQL("DROP OWNED BY {}").format(role))  # revokes its grants and default privileges here
        as_admin(sql.SQL("DROP ROLE {}").format(role))  # and takes its role-in-database setting with it


@pytest.fixture
def app_role(transactional_db) -> Iterator[str]:
    """A login role with every table privilege on audit_logs (more than what ships), dropped afterwards."""
    name = new_role_name()
    role = sql.Identifier(name)
    as_admin(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS").format(role))
    with dropped_afterwards(name):
        as_admin(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        as_admin(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON audit_logs TO {}").format(role))
        as_admin(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(role))
        yield name


def run_shipped_grants(role: str, *, password: str | None) -> subprocess.CompletedProcess[str]:
    """deploy/postgres/app-role.sql through psql, as docker-compose.yml's `grants` service runs it (as the owner)."""
    psql = shutil.which("psql")
    assert psql, "psql (PostgreSQL's client) is needed to run the shipped grants"
    database = connection.settings_dict
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.pop("CALSYNC_APP_DB_PASSWORD", None)
    if password is not None:
        env["CALSYNC_APP_DB_PASSWORD"] = password
    env.update(PGHOST="127.0.0.1", PGPORT=str(database["PORT"] or 5432), PGUSER=database["USER"] or "postgres")
    env["PGDATABASE"] = database["NAME"]
    command = [psql, "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-v", f"app_role={role}", "-f", str(APP_ROLE_SQL)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def shipped_role(transactional_db) -> Iterator[str]:
    """The application role exactly as deploy/postgres/app-role.sql makes it."""
    name = new_role_name()
    created = run_shipped_grants(name, password=secrets.token_urlsafe(16))
    if not run_sql_as_admin("SELECT 1 FROM pg_roles WHERE rolname = %s", name):
        pytest.fail(f"app-role.sql did not create the role: {created.stderr}")
    with dropped_afterwards(name):
        assert created.returncode == 0, created.stderr
        yield name


def run_sql_as_admin(statement: str, *params: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


@contextmanager
def connected_as(role: str) -> Iterator[psycopg.Connection]:
    """A connection as `role` (trust auth on loopback: no password)."""
    database = connection.settings_dict
    with psycopg.connect(
        host="127.0.0.1", port=database["PORT"] or 5432, dbname=database["NAME"], user=role, autocommit=True
    ) as conn:
        yield conn


@pytest.fixture
def app_db(app_role: str) -> Iterator[psycopg.Connection]:
    with connected_as(app_role) as conn:
        yield conn


@pytest.fixture
def shipped_db(shipped_role: str) -> Iterator[psycopg.Connection]:
    with connected_as(shipped_role) as conn:
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


# --- the role that ships: deploy/postgres/app-role.sql ---------------------------------------------------------


def test_the_shipped_role_is_no_superuser_and_owns_nothing(shipped_db, shipped_role):
    attributes = run(
        shipped_db,
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication FROM pg_roles WHERE rolname = %s",
        (shipped_role,),
    )
    assert attributes == [(False, False, False, False, False)]
    owned = run(
        shipped_db,
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s",
        (shipped_role,),
    )
    assert owned == [(0,)]
    assert run(
        shipped_db,
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s",
        (shipped_role,),
    ) == [(0,)]


def test_the_shipped_role_adds_audit_rows_and_works_on_other_tables_but_cannot_alter_the_log(shipped_db, owner):
    row = record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)

    # What the application needs: add audit rows, and read and write the other tables.
    (inserted,) = run(
        shipped_db,
        "INSERT INTO audit_logs (created_at, action, actor_email, subject_email, target_type, target_id, user_agent,"
        " metadata) VALUES (now(), 'account.signed_in', '', '', '', '', '', '{}') RETURNING id",
    )[0]
    assert AuditLog.objects.filter(pk=inserted).exists()
    assert run(shipped_db, "UPDATE users SET name = 'Olive' WHERE id = %s RETURNING name", (owner.pk,)) == [("Olive",)]

    refusals = {
        # No UPDATE or TRUNCATE privilege on audit_logs at all.
        "UPDATE audit_logs SET action = 'account.deleted' WHERE id = %s": "permission denied for table audit_logs",
        "TRUNCATE audit_logs": "permission denied for table audit_logs",
        # DELETE is granted for the archive job; the trigger refuses it for a recent row.
        "DELETE FROM audit_logs WHERE id = %s": TRIGGER_REFUSAL.format("DELETE"),
        "ALTER TABLE audit_logs DISABLE TRIGGER ALL": "must be owner of table audit_logs",
        "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_refuse_update_delete": "must be owner of table audit_logs",
        "DROP TABLE audit_logs": "must be owner of table audit_logs",
        "CREATE TABLE audit_logs_copy (id int)": "permission denied for schema public",
    }
    for statement, denial in refusals.items():
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            run(shipped_db, statement, (row.pk,) if "%s" in statement else ())
        assert caught.value.diag.message_primary == denial, statement

    row.refresh_from_db()
    assert row.action == AuditAction.ACCOUNT_SIGNED_IN
    enabled = run(shipped_db, "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_logs'::regclass")
    assert sorted(enabled) == [("audit_logs_refuse_truncate", "O"), ("audit_logs_refuse_update_delete", "O")]


def test_the_shipped_grants_can_run_again_after_a_migrate_and_without_a_password(shipped_role):
    # The `grants` service runs after every migrate; without a password it only grants, to a role made elsewhere.
    again = run_shipped_grants(shipped_role, password=None)
    assert again.returncode == 0, again.stderr
    privileges = run_sql_as_admin(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee = %s AND table_name = 'audit_logs' ORDER BY 1",
        shipped_role,
    )
    assert privileges == [("DELETE",), ("INSERT",), ("SELECT",)]


def check_deploy_as(role: str, tmp_path: Path) -> str:
    """`manage.py check --deploy` in a process whose DATABASE_URL names `role`; returns what it reported."""
    database = connection.settings_dict
    url = f"postgres://{role}@127.0.0.1:{database['PORT'] or 5432}/{database['NAME']}"
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="calsync.settings",
        CALSYNC_VAR_DIR=str(tmp_path),
        SECRET_KEY=secrets.token_urlsafe(50),
        ENCRYPTION_KEYS=os.environ["ENCRYPTION_KEYS"],
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),  # a shared cache, as deployed
        DATABASE_URL=url,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_check_deploy_warns_when_the_database_role_can_alter_the_audit_log(shipped_role, app_role, tmp_path):
    superuser = check_deploy_as(connection.settings_dict["USER"] or "postgres", tmp_path)
    assert "(audit.W001) The database role 'postgres' can rewrite or empty the append-only audit log" in superuser
    assert "it is a superuser" in superuser

    too_wide = check_deploy_as(app_role, tmp_path)
    assert "(audit.W001)" in too_wide
    assert "it may UPDATE audit_logs; it may TRUNCATE audit_logs." in too_wide

    shipped = check_deploy_as(shipped_role, tmp_path)
    assert "audit.W" not in shipped, shipped
    assert "(calsync.W005)" in shipped  # the check ran (SITE_URL is unset here)
