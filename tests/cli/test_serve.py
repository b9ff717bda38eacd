"""``neuratlas serve``: options, the busy-port check, and what it hands to uvicorn."""

from __future__ import annotations

import socket

import pytest
import uvicorn
from typer.testing import CliRunner

from neuratlas.cli import serve
from neuratlas.cli.main import cli


def test_serve_hands_the_factory_and_options_to_uvicorn(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(serve, "port_problem", lambda host, port: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    result = CliRunner().invoke(cli, ["serve", "--port", "8123", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert seen["app"] == "neuratlas.service.app:create_app"
    assert seen["factory"] is True
    assert (seen["host"], seen["port"], seen["workers"]) == ("127.0.0.1", 8123, 2)
    assert seen["access_log"] is False


def test_a_port_in_use_is_reported_and_exits_1(monkeypatch) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn must not start"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert serve.port_problem("127.0.0.1", port)
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_a_free_port_has_no_problem() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert serve.port_problem("127.0.0.1", port) is None


def test_bad_options_are_usage_errors() -> None:
    result = CliRunner().invoke(cli, ["serve", "--workers", "0"])
    assert result.exit_code == 2
