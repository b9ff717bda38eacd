"""Fetch configuration and where API keys come from: argument, environment, file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from neuratlas.errors import ArgumentError
from neuratlas.lesion.connectomes import FetchConfig
from neuratlas.lesion.connectomes.config import config_file, resolve_api_key


def test_the_argument_wins_then_the_environment_then_the_file(tmp_path, monkeypatch):
    assert config_file() == tmp_path / "config.toml"
    assert resolve_api_key("dataverse") is None
    (tmp_path / "config.toml").write_text(
        '[dataverse]\napi_key = "from-file"\n[figshare]\napi_key = "  "\n'
    )
    assert resolve_api_key("dataverse") == "from-file"
    assert resolve_api_key("figshare") is None  # blank means none
    monkeypatch.setenv("DATAVERSE_API_KEY", " from-env ")
    assert resolve_api_key("dataverse") == "from-env"
    assert resolve_api_key("dataverse", "from-arg") == "from-arg"
    assert resolve_api_key("dataverse", "   ") == "from-env"
    monkeypatch.setenv("FIGSHARE_API_KEY", "fig")
    assert resolve_api_key("figshare") == "fig"


def test_the_default_config_file_is_in_the_user_config_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("NEURATLAS_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config_file() == tmp_path / "cfg" / "neuratlas" / "config.toml"


def test_a_broken_config_file_is_an_argument_error(tmp_path):
    (tmp_path / "config.toml").write_text("[dataverse\napi_key=")
    with pytest.raises(ArgumentError, match="cannot be read") as info:
        resolve_api_key("dataverse")
    assert "DATAVERSE_API_KEY" in info.value.hint


def test_fetch_config_from_cli_arguments_and_into_fetch_arguments(monkeypatch):
    args = argparse.Namespace(
        connectome="gsp1000",
        output_dir="/data",
        api_key=None,
        batches=50,
        no_keep_original=True,
        no_register=False,
        register_name="G",
        force=True,
    )
    config = FetchConfig.from_cli_args(args)
    assert config.output_dir == Path("/data") and config.batches == 50
    assert not config.keep_original and config.register and config.force and config.resume
    assert config.fetch_kwargs() == {
        "register": True,
        "force": True,
        "register_name": "G",
        "api_key": None,
        "batches": 50,
    }
    monkeypatch.setenv("DATAVERSE_API_KEY", "k")
    assert config.get_api_key() == "k"
    assert FetchConfig("gsp1000", Path("."), api_key="mine").get_api_key() == "mine"
    tor = FetchConfig("dtor985", Path("."), api_key="t", keep_original=False)
    assert tor.fetch_kwargs() == {
        "register": True,
        "force": False,
        "api_key": "t",
        "keep_original": False,
    }
    assert FetchConfig("hcp1065", Path(".")).fetch_kwargs() == {
        "register": True,
        "force": False,
        "keep_original": True,
    }
