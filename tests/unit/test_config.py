"""core.common.config (a restudio.toml that cannot be read is a ConfigError naming the file, not a traceback) and the
shipped configuration files."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from streamlit.config import ShowErrorDetailsConfigOptions

from core.common.config import ConfigError, ServerConfig, load_server_config


def test_a_config_path_that_is_a_folder_is_a_config_error(tmp_path):
    folder = tmp_path / "restudio.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match=f"^{folder}: cannot be read"):
        load_server_config(folder)


def test_a_config_file_in_another_encoding_says_so(tmp_path):
    path = tmp_path / "restudio.toml"
    path.write_bytes('[access]\neditors = ["한국"]\n'.encode("cp949"))
    with pytest.raises(ConfigError, match=f"^{path}: not UTF-8 text$"):
        load_server_config(path)


def test_the_shipped_example_is_valid_and_sets_every_key():
    """restudio.example.toml is what operators copy: it must load, and document each key."""
    example = Path(__file__).resolve().parents[2] / "restudio.example.toml"
    config = load_server_config(example)
    defaults = ServerConfig()
    unset = [
        f.name
        for f in fields(ServerConfig)
        if f.name != "path" and getattr(config, f.name) == getattr(defaults, f.name)
    ]
    # read_only = false is documented at its default: with true the example's editors would mean nothing.
    assert unset == ["read_only"] and "read_only = false" in example.read_text()


def test_the_shipped_streamlit_config_sends_no_error_details_to_the_browser():
    shipped = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert shipped["client"]["showErrorDetails"] == ShowErrorDetailsConfigOptions.NONE
