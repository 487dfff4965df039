"""The error every config check raises; the CLI turns it into one line on stderr and exit status 2.

    raise ConfigError("unknown strategy 'x'; known: resample, pad-edges, spread-zeros")

It lives apart from storage/config.py so that modules config.py itself imports (storage/strategy.py)
can raise it too. `storage.config.ConfigError` is the same class.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config with an unknown key, a wrong type or an impossible value."""
