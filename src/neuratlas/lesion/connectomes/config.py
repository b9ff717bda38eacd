"""What a fetch is asked to do (:class:`FetchConfig`), and where API keys come from.

An API key is looked for, in order: the argument, the environment variable
(``DATAVERSE_API_KEY`` for Dataverse, ``FIGSHARE_API_KEY`` for Figshare), then
the neuratlas configuration file, a TOML file at
``<user config dir>/neuratlas/config.toml`` (or ``$NEURATLAS_CONFIG``)::

    [dataverse]
    api_key = "..."

    [figshare]
    api_key = "..."

Lacuna keeps the same keys in ``~/.config/lacuna/config.yaml``; neuratlas does
not read other programs' files.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from neuratlas.errors import ArgumentError

__all__ = ["API_KEY_ENV", "FetchConfig", "config_file", "resolve_api_key"]

#: The environment variable holding each server's API key.
API_KEY_ENV = {"dataverse": "DATAVERSE_API_KEY", "figshare": "FIGSHARE_API_KEY"}
CONFIG_ENV = "NEURATLAS_CONFIG"


def config_file() -> Path:
    """The neuratlas configuration file: ``$NEURATLAS_CONFIG``, else the user config dir's."""
    if path := os.environ.get(CONFIG_ENV):
        return Path(path).expanduser()
    return Path(platformdirs.user_config_dir("neuratlas")) / "config.toml"


def _key_from_file(server: str) -> str | None:
    path = config_file()
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            settings = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ArgumentError(
            f"the configuration file {path} cannot be read ({exc})",
            hint=f"fix its TOML syntax, or set {API_KEY_ENV[server]} instead",
        ) from None
    section = settings.get(server)
    key = section.get("api_key") if isinstance(section, dict) else None
    if not key or not str(key).strip():
        return None
    return str(key).strip()


def resolve_api_key(server: str, api_key: str | None = None) -> str | None:
    """The API key for ``server``: the argument, else its variable, else the config file.

    Parameters
    ----------
    server : {"dataverse", "figshare"}
        Which server the key is for.
    api_key : str, optional
        A key given explicitly; wins when not empty.

    Returns
    -------
    str or None
        None when no key is found anywhere.
    """
    if api_key and api_key.strip():
        return api_key.strip()
    env = API_KEY_ENV.get(server)
    if env and (value := os.environ.get(env, "").strip()):
        return value
    return _key_from_file(server)


@dataclass
class FetchConfig:
    """Configuration for a connectome fetch operation (lacuna's fields, seed 004).

    :meth:`fetch_kwargs` turns it into the arguments of the matching fetch
    function, e.g. ``fetch_connectome(cfg.connectome, cfg.output_dir, **cfg.fetch_kwargs())``.
    """

    #: Connectome name to fetch (e.g. ``"gsp1000"``, ``"dtor985"``).
    connectome: str
    #: Directory for the processed output files.
    output_dir: Path
    #: API key (Dataverse for GSP1000, Figshare for dTOR985); see :meth:`get_api_key`.
    api_key: str | None = None
    #: Number of HDF5 batch files for functional connectomes.
    batches: int = 10
    #: Keep the original downloaded files after processing.
    keep_original: bool = True
    #: Register the connectome after processing.
    register: bool = True
    #: Name for registration; defaults to the source's (e.g. ``"GSP1000"``).
    register_name: str | None = None
    #: Overwrite existing files and registrations.
    force: bool = False
    #: Resume interrupted downloads; the fetch functions always do (a partial file is
    #: continued with an HTTP range request), so this is for callers that delete it.
    resume: bool = True

    @classmethod
    def from_cli_args(cls, args: argparse.Namespace) -> FetchConfig:
        """Create a config from parsed command-line arguments (lacuna's option names)."""
        return cls(
            connectome=getattr(args, "connectome", ""),
            output_dir=Path(getattr(args, "output_dir", ".")),
            api_key=getattr(args, "api_key", None),
            batches=getattr(args, "batches", 10),
            keep_original=not getattr(args, "no_keep_original", False),
            register=not getattr(args, "no_register", False),
            register_name=getattr(args, "register_name", None),
            force=getattr(args, "force", False),
            resume=getattr(args, "resume", True),
        )

    def get_api_key(self) -> str | None:
        """The Dataverse API key: this config's, else ``DATAVERSE_API_KEY``, else the file.

        For the Figshare key use :func:`resolve_api_key` with ``"figshare"``.
        """
        return resolve_api_key("dataverse", self.api_key)

    def fetch_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the fetch function of :attr:`connectome`."""
        name = self.connectome.lower()
        kwargs: dict[str, Any] = {"register": self.register, "force": self.force}
        if self.register_name:
            kwargs["register_name"] = self.register_name
        if name == "gsp1000":
            kwargs.update(api_key=self.api_key, batches=self.batches)
        elif name == "dtor985":
            kwargs.update(api_key=self.api_key, keep_original=self.keep_original)
        else:
            kwargs["keep_original"] = self.keep_original
        return kwargs
