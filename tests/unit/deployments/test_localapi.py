"""When the CLI starts its own local Prefect API, and the settings that API runs with."""

from __future__ import annotations

from deployments.localapi import SERVER_ENV, server_env, wanted


def test_a_local_api_only_without_an_api_url_and_with_ephemeral_mode_allowed() -> None:
    assert wanted({})
    assert not wanted({"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    assert not wanted({"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false"})
    assert wanted({"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true", "PREFECT_API_URL": ""})


def test_the_local_api_skips_ui_block_registration_and_telemetry() -> None:
    assert SERVER_ENV["PREFECT_UI_ENABLED"] == "false"
    assert SERVER_ENV["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] == "false"
    assert SERVER_ENV["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert SERVER_ENV["PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED"] == "false"


def test_only_a_database_seeded_from_the_template_skips_the_migration_check() -> None:
    seeded = server_env({"PREFECT_HOME": "/ci/prefect"}, seeded=True)
    assert seeded["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] == "false"
    assert seeded["PREFECT_HOME"] == "/ci/prefect" and seeded["PREFECT_UI_ENABLED"] == "false"
    assert "PREFECT_SERVER_DATABASE_MIGRATE_ON_START" not in server_env({}, seeded=False)


def test_only_the_default_sqlite_database_is_seeded_from_the_template() -> None:
    from pathlib import Path

    from deployments.localapi import _database

    assert _database({"PREFECT_HOME": "/ci/prefect"}) == Path("/ci/prefect/prefect.db")
    url = "postgresql+asyncpg://u@db/prefect"
    assert _database({"PREFECT_API_DATABASE_CONNECTION_URL": url}) is None
    assert _database({"PREFECT_SERVER_DATABASE_CONNECTION_URL": url}) is None
