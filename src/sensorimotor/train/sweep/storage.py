"""Optuna storages of sweeps: SQLite in the run directory by default, any RDB URL (PostgreSQL,
MySQL, SQLite), or Optuna's journal file (``journal:PATH``) that processes on several machines
share over a network file system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensorimotor.core.errors import ConfigError


def default_storage_url(run_dir: str | Path) -> str:
    """SQLite file ``sweeps.db`` in the run directory."""
    return f"sqlite:///{Path(run_dir).resolve() / 'sweeps.db'}"


def open_storage(url: str) -> Any:
    """The Optuna storage for ``url``: ``journal:PATH`` (or a path ending in ``.journal``/``.log``)
    is a journal file; anything else an RDB URL (``sqlite:///...``, ``postgresql://...``)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = url.removeprefix("journal:") if url.startswith("journal:") else None
    if path is None and "://" not in url and url.endswith((".journal", ".log")):
        path = url
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise ConfigError(
            f"sweep storage {url!r}: expected an RDB URL (sqlite:///PATH, postgresql://...) "
            "or journal:PATH"
        )
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except (ImportError, ValueError) as e:
        raise ConfigError(f"sweep storage {url!r}: {e}") from None
