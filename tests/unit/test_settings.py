"""``core.common.settings``: every ``RESTUDIO_*`` variable parsed in one place, bad values named, and the one
workspace-folder resolution."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.common import settings as s
from core.common.config import ConfigError, config_path
from core.common.settings import Settings, SettingsError, resolve_home


def test_defaults_of_an_empty_environment() -> None:
    assert Settings.from_env({}) == Settings()
    got = Settings()
    assert got.home is None and got.author == "" and got.cancel_budget_s is None and got.config_file is None
    assert not got.debug and got.hub_download and got.job_id is None and got.max_cpu_jobs == 1
    assert not got.no_demo_jobs and not got.no_watcher and got.run_dir is None and got.secrets_files is None


def test_every_variable_is_parsed() -> None:
    env = {
        s.HOME_ENV: "/srv/ws",
        s.AUTHOR_ENV: " ana ",
        s.CANCEL_BUDGET_ENV: " 2.5 ",
        s.CONFIG_ENV: "/etc/restudio.toml",
        s.DEBUG_ENV: "1",
        s.HUB_DOWNLOAD_ENV: " Off ",
        s.JOB_ID_ENV: "42",
        s.MAX_CPU_JOBS_ENV: "3",
        s.NO_DEMO_JOBS_ENV: "1",
        s.NO_WATCHER_ENV: "yes",
        s.RUN_DIR_ENV: "/srv/ws/runs/x",
        s.SECRETS_FILE_ENV: f"/a.toml{os.pathsep}{os.pathsep}/b.toml",
    }
    assert Settings.from_env(env) == Settings(
        home="/srv/ws",
        author=" ana ",  # as given: the CLI strips it, the app pre-fills it
        cancel_budget_s=2.5,
        config_file="/etc/restudio.toml",
        debug=True,
        hub_download=False,
        job_id=42,
        max_cpu_jobs=3,
        no_demo_jobs=True,
        no_watcher=True,
        run_dir="/srv/ws/runs/x",
        secrets_files=("/a.toml", "/b.toml"),
    )


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        (s.MAX_CPU_JOBS_ENV, "0", "max_cpu_jobs", 0),  # 0: CPU jobs stay queued
        (s.CANCEL_BUDGET_ENV, "0", "cancel_budget_s", 0.0),
        (s.CANCEL_BUDGET_ENV, "  ", "cancel_budget_s", None),  # blank: unset
        (s.HUB_DOWNLOAD_ENV, "1", "hub_download", True),  # only forbids, never allows
        (s.HUB_DOWNLOAD_ENV, "FALSE", "hub_download", False),
        (s.DEBUG_ENV, "0", "debug", True),  # any non-empty value turns a flag on, as it always did
        (s.NO_WATCHER_ENV, "", "no_watcher", False),
        (s.CONFIG_ENV, "", "config_file", None),
        (s.SECRETS_FILE_ENV, os.pathsep, "secrets_files", ()),  # set but naming no file: no file
    ],
)
def test_edge_values(name: str, value: str, field: str, expected: object) -> None:
    assert getattr(Settings.from_env({name: value}), field) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (s.MAX_CPU_JOBS_ENV, "two", "RESTUDIO_MAX_CPU_JOBS must be a whole number >= 0, got 'two'"),
        (s.MAX_CPU_JOBS_ENV, "-1", "RESTUDIO_MAX_CPU_JOBS must be a whole number >= 0, got '-1'"),
        (s.MAX_CPU_JOBS_ENV, "", "RESTUDIO_MAX_CPU_JOBS must be a whole number >= 0, got ''"),
        (s.CANCEL_BUDGET_ENV, "soon", "RESTUDIO_CANCEL_BUDGET_S must be a number of seconds >= 0, got 'soon'."),
        (s.CANCEL_BUDGET_ENV, "-1", "RESTUDIO_CANCEL_BUDGET_S must be a number of seconds >= 0, got '-1'."),
        (s.CANCEL_BUDGET_ENV, "nan", "RESTUDIO_CANCEL_BUDGET_S must be a number of seconds >= 0, got 'nan'."),
        (s.JOB_ID_ENV, "7a", "RESTUDIO_JOB_ID must be a whole number, got '7a'"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    assert str(info.value) == message
    assert isinstance(info.value, ConfigError)  # the project's error for bad config: one line from the CLI
    assert info.value.name == name and info.value.raw == value


def test_home_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {s.HOME_ENV: "from-env"}
    assert resolve_home("explicit", environ=env) == tmp_path / "explicit"
    assert resolve_home(None, environ=env) == tmp_path / "from-env"
    assert resolve_home("", environ=env) == tmp_path / "from-env"  # an empty --home is no --home
    assert resolve_home(None, environ={}) == tmp_path / "workspace"
    assert resolve_home(None, environ={s.HOME_ENV: ""}) == tmp_path / "workspace"
    assert resolve_home(None, environ={}, default=tmp_path / "app" / "workspace") == tmp_path / "app" / "workspace"
    assert Settings.from_env(env).resolve_home() == tmp_path / "from-env"
    assert Settings.from_env(env).resolve_home("explicit") == tmp_path / "explicit"
    assert Settings().resolve_home() == tmp_path / "workspace"


def test_home_is_expanded_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert resolve_home("~/ws", environ={}) == tmp_path / "ws"
    assert resolve_home(None, environ={s.HOME_ENV: "~/other"}) == tmp_path / "other"
    assert resolve_home("a/../b", environ={}) == tmp_path / "b"


def test_read_at_the_point_of_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is cached at import: a variable changed while the process runs is seen by the next read."""
    from core.store.workspace import Workspace
    from core.train.config import TrainConfig, workspace_root

    monkeypatch.setenv(s.HOME_ENV, str(tmp_path / "one"))
    assert Settings.from_env().home == str(tmp_path / "one")
    assert workspace_root(TrainConfig()) == tmp_path / "one"
    assert Workspace().root == tmp_path / "one"
    monkeypatch.setenv(s.HOME_ENV, str(tmp_path / "two"))
    assert workspace_root(TrainConfig()) == tmp_path / "two"
    assert Workspace(tmp_path / "three").root == tmp_path / "three"  # the argument wins
    monkeypatch.setenv(s.CONFIG_ENV, str(tmp_path / "restudio.toml"))
    assert config_path() == tmp_path / "restudio.toml"
