"""The project's user-error types: the only exceptions `tibcpt` prints as one line without a traceback.

Anything else (a KeyError, an AttributeError, a ValueError from a library) is a bug and keeps its
traceback, so it can be reported and fixed.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: the message names what is wrong and where."""


class ConfigError(UserError, ValueError):
    """A config file, sources.yaml entry or override is wrong; the message names the file and key.

    Also a ValueError, so code that validated with ValueError before keeps catching it."""


class InputError(UserError):
    """An input or output path is missing, unreadable, in use by another run, or would be overwritten."""
