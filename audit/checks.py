"""`check --deploy`: warn when the application's own database role could rewrite or empty the audit log.

audit_logs is append-only by its triggers (migrations 0002 and 0004), which hold only against a role that is no
superuser, does not own the table (nor may act as its owner), and has no UPDATE or TRUNCATE on it:
deploy/postgres/app-role.sql makes such a role. The check runs against the connection the application uses.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError, connection

from audit.models import AuditLog

TRIGGERS = ("audit_logs_refuse_update_delete", "audit_logs_refuse_truncate")
TRIGGER_FUNCTION = "audit_logs_refuse_change"
HINT = (
    "Run web, worker and beat as a role that owns nothing and is not a superuser, and migrate as the owner: "
    "deploy/postgres/app-role.sql grants such a role what it needs (see docs/operations.md)."
)

# Each is true when the current role can get around audit_logs' triggers that way. has_table_privilege and
# pg_has_role count superusers and role membership (pg_write_all_data too).
POWERS_SQL = """
SELECT
    pg_has_role(current_user, c.relowner, 'MEMBER'),
    has_table_privilege(c.oid, 'UPDATE'),
    has_table_privilege(c.oid, 'TRUNCATE'),
    has_table_privilege(c.oid, 'TRIGGER'),
    COALESCE((SELECT bool_or(pg_has_role(current_user, p.proowner, 'MEMBER'))
              FROM pg_proc p WHERE p.proname = %s), false),
    {replica_mode},
    (SELECT count(*) FROM pg_trigger t
     WHERE t.tgrelid = c.oid AND t.tgname = ANY(%s) AND t.tgenabled = 'O')
FROM pg_class c
WHERE c.oid = to_regclass(%s)
"""
POWERS = (
    "owns audit_logs or may act as its owner (and so drop its triggers)",
    "may UPDATE audit_logs",
    "may TRUNCATE audit_logs",
    "may add triggers to audit_logs",
    "may replace the triggers' function",
    "may set session_replication_role, which skips triggers",
)


@register(Tags.security, deploy=True)
def check_audit_log_role(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if connection.vendor != "postgresql":
        return []  # the triggers are PostgreSQL's; SQLite is the demo default and check --deploy warns of it
    try:
        role, reasons, triggers_in_place = _audit_log_powers()
    except DatabaseError as error:
        return [
            Warning(
                f"Could not check whether the database role can alter the audit log: {error}".strip(),
                hint="Run check --deploy where the database answers, with the application's DATABASE_URL.",
                id="audit.W002",
            )
        ]
    warnings: list[CheckMessage] = []
    if reasons:
        warnings.append(
            Warning(
                f"The database role {role!r} can rewrite or empty the append-only audit log: "
                f"it {'; it '.join(reasons)}.",
                hint=HINT,
                id="audit.W001",
            )
        )
    if not triggers_in_place:
        warnings.append(
            Warning(
                "audit_logs' append-only triggers are missing or disabled.",
                hint="Run `manage.py migrate` (audit migrations 0002 and 0004 create them) as the tables' owner.",
                id="audit.W003",
            )
        )
    return warnings


def _audit_log_powers() -> tuple[str, list[str], bool]:
    """The current role, the ways it could get around audit_logs' triggers, and whether they are in place."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        role, superuser = cursor.fetchone()
        # Before PostgreSQL 15 only a superuser may choose the replication role.
        replica_mode = "has_parameter_privilege('session_replication_role', 'SET')"
        if getattr(connection, "pg_version", 0) < 150000:
            replica_mode = "false"
        sql = POWERS_SQL.format(replica_mode=replica_mode)
        cursor.execute(sql, [TRIGGER_FUNCTION, list(TRIGGERS), AuditLog._meta.db_table])
        row = cursor.fetchone()
    if superuser:
        return role, ["is a superuser"], row is None or row[-1] == len(TRIGGERS)
    if row is None:
        return role, [], True  # not migrated yet: no audit log to protect so far
    *powers, enabled_triggers = row
    reasons = [reason for reason, held in zip(POWERS, powers, strict=True) if held]
    return role, reasons, enabled_triggers == len(TRIGGERS)
