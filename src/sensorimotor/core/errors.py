"""Error types that separate the user's mistakes from the program's failures."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (arguments, config, files). The CLI prints one line and exits 2."""


class ConfigError(UserError):
    """A config key, value or group option that is not valid."""


class DataError(UserError):
    """A file or data set that is missing, corrupt or of the wrong shape."""
