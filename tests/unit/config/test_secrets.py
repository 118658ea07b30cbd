"""Where `${secret:NAME}` comes from: the environment first, then the registered lookup."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from dockyard import session
from dockyard.config import ConfigError, SecretSourceError, load_config
from dockyard.masking import Masker
from dockyard.secret_blocks import secret_block_name
from tasks.secrets import PrefectSecrets
from tests.unit.configkit import (
    ENVIRON,
    SECRET,
    VARIABLES,
    full_config,
    make_project,
    new_keypair,
    write,
)

FROM_BLOCK = "block-value-7Qz"
NO_DB_PASSWORD = {k: v for k, v in ENVIRON.items() if k != "DB_PASSWORD"}


class FakeLookup:
    """A second secret source holding `values`; records what it was asked."""

    def __init__(self, values: dict[str, str], error: SecretSourceError | None = None) -> None:
        self.values = values
        self.error = error
        self.asked: list[str] = []

    def where(self, name: str) -> str:
        return f"the fake store as {name.lower()}"

    def __call__(self, name: str) -> str | None:
        self.asked.append(name)
        if self.error:
            raise self.error
        return self.values.get(name)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    make_project(tmp_path, new_keypair())
    return write(tmp_path, full_config())


def test_the_environment_wins(config_path: Path) -> None:
    lookup = FakeLookup({"DB_PASSWORD": FROM_BLOCK})
    config = load_config(config_path, VARIABLES, ENVIRON, lookup)
    assert lookup.asked == []
    assert config.stacks[0].revealed_env()["DB_PASSWORD"] == SECRET


def test_the_lookup_fills_what_the_environment_lacks(config_path: Path) -> None:
    lookup = FakeLookup({"DB_PASSWORD": FROM_BLOCK})
    config = load_config(config_path, VARIABLES, NO_DB_PASSWORD, lookup)
    assert set(lookup.asked) == {"DB_PASSWORD"}
    env = config.stacks[0].env
    assert isinstance(env["DB_PASSWORD"], SecretStr) and isinstance(env["DATABASE_URL"], SecretStr)
    assert (
        config.stacks[0].revealed_env()["DATABASE_URL"] == f"postgres://shop:{FROM_BLOCK}@db/shop"
    )
    assert FROM_BLOCK in config.secret_values()


def test_missing_everywhere_names_both_places(config_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_path, VARIABLES, NO_DB_PASSWORD, FakeLookup({}))
    text = str(info.value)
    assert "stacks[0].env.DB_PASSWORD: secret DB_PASSWORD is not set in the environment" in text
    assert "nor in the fake store as db_password" in text
    assert "export DB_PASSWORD" in text and "or store it in the fake store" in text


def test_without_a_lookup_only_the_environment_is_named(config_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_path, VARIABLES, NO_DB_PASSWORD)
    assert "is not set in the environment\n" in str(info.value)


def test_a_failing_lookup_is_a_problem_of_the_field(config_path: Path) -> None:
    error = SecretSourceError("cannot read the store: ConnectError", "check the store")
    with pytest.raises(ConfigError) as info:
        load_config(config_path, VARIABLES, NO_DB_PASSWORD, FakeLookup({}, error))
    fields = {p.field: (p.message, p.fix) for p in info.value.problems}
    assert fields["stacks[0].env.DB_PASSWORD"] == (
        "secret DB_PASSWORD: cannot read the store: ConnectError",
        "check the store",
    )


def test_a_secret_outside_env_is_never_looked_up(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["jobs"][1]["command"] = ["echo", "${secret:OTHER}"]
    lookup = FakeLookup({"OTHER": FROM_BLOCK})
    with pytest.raises(ConfigError, match="only allowed in stacks"):
        load_config(write(tmp_path, data), VARIABLES, ENVIRON, lookup)
    assert lookup.asked == []


def test_a_plain_variable_naming_a_secret_is_a_secret_inside_env(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["env"]["COPY"] = "${REGISTRY_TOKEN}"
    config = load_config(write(tmp_path, data), VARIABLES, ENVIRON)
    assert isinstance(config.stacks[0].env["COPY"], SecretStr)


def test_config_error_pickles_without_the_secret(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["jobs"][1]["command"] = ["x", "${DB_PASSWORD}"]
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data), VARIABLES, ENVIRON)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.problems == info.value.problems
    assert SECRET not in str(again)


def test_session_load_uses_the_registered_lookup(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_TOKEN", "token-xyz")
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    lookup = FakeLookup({"DB_PASSWORD": FROM_BLOCK})
    session.set_secret_lookup(lookup)
    try:
        loaded = session.load(session.DeployRequest(str(config_path), VARIABLES))
    finally:
        session.set_secret_lookup(None)
    assert loaded.config.stacks[0].revealed_env()["DB_PASSWORD"] == FROM_BLOCK
    assert loaded.masker(f"it was {FROM_BLOCK}") == "it was ***"


def test_prefect_block_names() -> None:
    assert secret_block_name("DB_PASSWORD") == "db-password"
    assert PrefectSecrets().where("API_KEY") == "a Prefect Secret block named 'api-key'"


def test_prefect_lookup_without_an_api_url_finds_nothing() -> None:
    with temporary_settings({PREFECT_API_URL: None}):
        assert PrefectSecrets()("DB_PASSWORD") is None


def test_the_masker_holds_each_secret_itself_not_only_the_values_built_with_it(
    tmp_path: Path,
) -> None:
    """DATABASE_URL is built with ${secret:DB_PASSWORD}: a log line with the bare password
    is masked too (issue 20, item 3)."""
    make_project(tmp_path, new_keypair())
    data = full_config()
    del data["stacks"][0]["env"]["DB_PASSWORD"]
    data["stacks"][0]["env"]["ADMIN_URL"] = "http://admin:${API_TOKEN}@admin.local/"
    data["stacks"][0]["env"]["API_TOKEN"] = "${secret:API_TOKEN}"
    environ = {**ENVIRON, "API_TOKEN": "tok-9Qw2x"}
    config = load_config(write(tmp_path, data), VARIABLES, environ)
    assert SECRET in config.secret_values() and "tok-9Qw2x" in config.secret_values()
    masker = Masker(config.secret_values(), config.public_values())
    assert masker(f"password={SECRET} token=tok-9Qw2x") == "password=*** token=***"


@pytest.mark.parametrize("value", ["q", "xqz", "hunt2"])
def test_a_secret_too_short_to_mask_is_refused_with_the_fix(tmp_path: Path, value: str) -> None:
    make_project(tmp_path, new_keypair())
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, full_config()), VARIABLES, {**ENVIRON, "DB_PASSWORD": value})
    problems = {p.field: (p.message, p.fix) for p in info.value.problems}
    message, fix = problems["stacks[0].env.DB_PASSWORD"]
    assert f"secret DB_PASSWORD has {len(value)} character" in message
    assert "too short to mask" in message
    assert "at least 6 characters" in fix and value not in message


def test_a_registry_password_too_short_to_mask_is_refused(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, full_config()), VARIABLES, {**ENVIRON, "REGISTRY_TOKEN": "pw1"})
    assert "secret REGISTRY_TOKEN has 3 characters" in str(info.value)


def test_an_empty_secret_is_allowed(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    config = load_config(write(tmp_path, full_config()), VARIABLES,
                         {**ENVIRON, "DB_PASSWORD": ""})  # fmt: skip
    assert "" not in config.secret_values()
