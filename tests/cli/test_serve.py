"""``neuratlas serve``: options, the busy-port check, and what it hands to each server."""

from __future__ import annotations

import socket
import sys
from typing import ClassVar

import granian.server
import pytest
import uvicorn
from granian.constants import Interfaces, Loops
from granian.log import LogLevels
from typer.testing import CliRunner

from neuratlas.cli import serve
from neuratlas.cli.main import cli
from tests.cli.conftest import run_console


class FakeGranian:
    """Stands in for granian's ``Server``: records what it was built with and run."""

    seen: ClassVar[dict] = {}

    def __init__(self, target: str, **kwargs) -> None:
        FakeGranian.seen = {"target": target, **kwargs}

    def serve(self) -> None:
        FakeGranian.seen["served"] = True


@pytest.fixture
def free(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every port is free: the commands below never bind."""
    monkeypatch.setattr(serve, "port_problem", lambda host, port: None)


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Replace both servers' runners; the list records (server, options) per call."""
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(serve, "run_granian", lambda **kw: calls.append(("granian", kw)))
    monkeypatch.setattr(serve, "run_uvicorn", lambda **kw: calls.append(("uvicorn", kw)))
    return calls


def test_the_default_server_is_granian(free, runners) -> None:
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    assert runners == [
        (
            "granian",
            {
                "host": "127.0.0.1",
                "port": 8000,
                "workers": 1,
                "log_level": "info",
                "access_log": False,
            },
        )
    ]


@pytest.mark.parametrize("name", ["granian", "uvicorn"])
def test_the_server_option_picks_the_runner_and_passes_every_option(
    free, runners, name: str
) -> None:
    args = ["serve", "--server", name, "--host", "0.0.0.0", "--port", "8123", "--workers", "2"]
    args += ["--log-level", "warning", "--access-log"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    expected = {
        "host": "0.0.0.0",
        "port": 8123,
        "workers": 2,
        "log_level": "warning",
        "access_log": True,
    }
    assert runners == [(name, expected)]


def test_granian_gets_the_factory_as_asgi_with_every_option(monkeypatch) -> None:
    monkeypatch.setattr(granian.server, "Server", FakeGranian)
    serve.run_granian(host="::1", port=8124, workers=3, log_level="debug", access_log=True)
    seen = FakeGranian.seen
    assert seen["target"] == "neuratlas.service.app:create_app"
    assert seen["factory"] is True
    # ASGI, not ASGINL: the app's lifespan warms the catalogue
    assert seen["interface"] is Interfaces.ASGI
    assert (seen["address"], seen["port"], seen["workers"]) == ("::1", 8124, 3)
    assert seen["log_level"] is LogLevels.debug
    assert seen["log_access"] is True
    assert seen["loop"] is Loops.uvloop  # granian's extra, a dependency
    assert seen["served"] is True


def test_granian_falls_back_to_asyncio_without_uvloop(monkeypatch) -> None:
    monkeypatch.setattr(granian.server, "Server", FakeGranian)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where uvloop is not built
    serve.run_granian(host="127.0.0.1", port=8126, workers=1, log_level="info", access_log=False)
    assert FakeGranian.seen["loop"] is Loops.asyncio


def test_uvicorn_gets_the_factory_with_every_option(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    serve.run_uvicorn(host="::1", port=8125, workers=2, log_level="error", access_log=False)
    assert seen["app"] == "neuratlas.service.app:create_app"
    assert seen["factory"] is True
    assert (seen["host"], seen["port"], seen["workers"]) == ("::1", 8125, 2)
    assert (seen["log_level"], seen["access_log"]) == ("error", False)


@pytest.mark.parametrize("name", ["granian", "uvicorn"])
def test_a_port_in_use_is_reported_and_exits_1(monkeypatch, name: str) -> None:
    def must_not_start(**kwargs) -> None:
        pytest.fail("the server must not start")

    monkeypatch.setattr(serve, "run_granian", must_not_start)
    monkeypatch.setattr(serve, "run_uvicorn", must_not_start)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert serve.port_problem("127.0.0.1", port)
        result = CliRunner().invoke(cli, ["serve", "--server", name, "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_a_free_port_has_no_problem() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert serve.port_problem("127.0.0.1", port) is None


def _message(output: str) -> str:
    """The error's text without the panel typer draws around it."""
    return " ".join(output.replace("│", " ").split())


def test_an_unknown_server_is_a_usage_error(runners) -> None:
    result = CliRunner().invoke(cli, ["serve", "--server", "gunicorn"])
    assert result.exit_code == 2
    assert runners == []
    message = _message(result.output)
    assert "Invalid value for '--server'" in message
    assert "'gunicorn' is not one of 'granian', 'uvicorn'" in message
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["--workers", "0"], ["--port", "70000"], ["--log-level", "loud"]],
    ids=["workers", "port", "log-level"],
)
def test_bad_options_are_usage_errors(runners, args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2
    assert runners == []


def test_a_cache_it_cannot_use_is_one_line_of_error_before_any_server_starts(
    toy_folder, tmp_path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_console(toy_folder, tmp_path, str(blocker / "cache"), "serve", "--port", "0")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: NEURATLAS_CACHE=") and "cannot be used" in lines[0]
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2
    assert "Listening" not in done.stdout
