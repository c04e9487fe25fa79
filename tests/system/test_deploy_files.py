"""Deployment files agree with each other: Procfile, docker-compose.yml, .env.example, README."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from fakes.processes import ROOT
from tests.audit.test_audit_role import APP_ROLE_SQL


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command_of(service: dict) -> str:
    command = service["command"]
    if command[:2] == ["sh", "-c"]:
        return command[2]
    return shlex.join(command)


def test_the_procfile_has_the_four_process_types():
    assert set(procfile()) == {"web", "worker", "beat", "release"}
    assert procfile()["release"].startswith("python manage.py migrate")
    assert "setup_periodic_tasks" in procfile()["release"]


def test_compose_runs_every_procfile_process_with_the_same_command():
    services = compose()["services"]
    for name, command in procfile().items():
        assert command_of(services[name]) == command, name


def test_compose_has_the_services_and_health_checks():
    services = compose()["services"]
    assert set(services) == {"db", "redis", "release", "grants", "web", "worker", "beat"}
    for name in ("db", "redis", "web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    # Migrate, then grants, then the application: it never starts before its role has what it needs.
    assert services["release"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["grants"]["depends_on"]["release"]["condition"] == "service_completed_successfully"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["grants"]["condition"] == "service_completed_successfully"


def database_url(service: dict) -> tuple[str, str]:
    """The user and the password (as written: a ${VARIABLE}) of a service's DATABASE_URL."""
    # Not urlsplit: the ${VARIABLE:?message} in place of the password holds a "?".
    url = re.fullmatch(
        r"postgres://(?P<user>[^:@]+):(?P<password>\$\{[^}]+\})@db:5432/\w+", service["environment"]["DATABASE_URL"]
    )
    assert url, service["environment"]["DATABASE_URL"]
    return url["user"], url["password"]


def test_compose_migrates_as_the_owner_and_runs_the_app_as_a_role_of_its_own():
    services = compose()["services"]
    owner = services["db"]["environment"]["POSTGRES_USER"]
    owner_password = services["db"]["environment"]["POSTGRES_PASSWORD"]
    assert database_url(services["release"]) == (owner, owner_password)
    app_urls = {database_url(services[name]) for name in ("web", "worker", "beat")}
    assert len(app_urls) == 1
    ((app_role, app_password),) = app_urls
    assert app_role != owner
    assert app_password != owner_password and "DB_APP_PASSWORD" in app_password
    # .env reaches every app process (env_file); the owner's password is blanked there.
    variable = re.fullmatch(r"\$\{(\w+)(?::\?[^}]*)?\}", owner_password)
    assert variable, owner_password
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"][variable.group(1)] == "", name


def test_compose_grants_the_app_role_with_the_sql_file_the_role_test_runs():
    grants = compose()["services"]["grants"]
    command = grants["command"]
    assert command[0] == "psql"
    assert f"app_role={database_url(compose()['services']['web'])[0]}" in command
    assert grants["environment"]["PGUSER"] == compose()["services"]["db"]["environment"]["POSTGRES_USER"]
    assert grants["environment"]["PGPASSWORD"] == compose()["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    # The file psql runs, through the service's volume, is the one tests/audit/test_audit_role.py checks.
    script = command[command.index("-f") + 1]
    mounts = [volume.split(":") for volume in grants["volumes"]]
    (on_host,) = [
        (ROOT / host / Path(script).relative_to(inside)) for host, inside, *_ in mounts if script.startswith(inside)
    ]
    assert on_host.resolve() == APP_ROLE_SQL.resolve()
    assert APP_ROLE_SQL.is_file()
    # The image's psql must know \getenv (PostgreSQL 15), and match the server.
    assert grants["image"] == compose()["services"]["db"]["image"]
    assert int(grants["image"].partition(":")[2]) >= 15


def test_the_app_services_share_one_image_built_by_the_dockerfile():
    services = compose()["services"]
    app = [services[name] for name in ("release", "web", "worker", "beat")]
    assert {service["build"] for service in app} == {"."}
    assert {service["image"] for service in app} == {"calsync:latest"}
    assert (ROOT / "Dockerfile").read_text().count("FROM ") == 1


def test_the_web_health_check_probes_the_health_endpoint():
    assert "/healthz" in " ".join(compose()["services"]["web"]["healthcheck"]["test"])


def configuration_variables() -> set[str]:
    sources = (ROOT / "calsync" / "settings.py").read_text() + (ROOT / "gunicorn.conf.py").read_text()
    pattern = r'(?:env_(?:str|bool|int|list)|required_secret|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"'
    return set(re.findall(pattern, sources))


def test_every_setting_read_from_the_environment_is_documented():
    variables = configuration_variables()
    assert {"SECRET_KEY", "ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL", "GOOGLE_CLIENT_ID"} <= variables
    example = (ROOT / ".env.example").read_text()
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name in sorted(variables):
        assert re.search(rf"^#?{name}=", example, re.MULTILINE), f"{name} missing from .env.example"
        assert f"`{name}`" in operations, f"{name} missing from the configuration table in docs/operations.md"


def test_the_readme_quick_start_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
