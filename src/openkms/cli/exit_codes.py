"""The exit statuses of every ``openkms`` command, one per kind of outcome.

A problem the user can fix ends with one line on stderr (``openkms: error: ...``) and the
status of its kind, so scripts can tell a typo from a wrong root key without reading the
message. Startup errors are sorted by their class (openkms.server.bootstrap):

====  =======================  ==========================================================
code  name                     meaning
====  =======================  ==========================================================
0     OK                       done; ``authz explain``: allowed; ``audit verify``: intact
1     NEGATIVE                 the command ran and the answer is no: ``authz explain``
                               denied, ``audit verify``/``export`` found a bad record,
                               ``admin create-account`` of an existing account,
                               ``backup`` to an existing file, ``restore`` into
                               existing state or of a file that is no backup
2     USAGE                    the command line is wrong (argparse), or names a
                               principal or key that does not exist (``authz explain``)
3     MISSING_STATE            data directory, database or root key not there (commands
                               that only open state create nothing), or not usable
4     ROOT_KEY                 root key malformed, unreadable, or not this database's
                               (or not the one that sealed a backup, ``restore``)
5     DATABASE                 database unreachable, unusable, of a newer OpenKMS, not
                               writable (``serve``), or an error while the command ran
6     CONFIG                   options or environment that cannot be used as given
                               (TLS files, plain HTTP off loopback, ``--workers`` without
                               shared state, half-set root credential variables,
                               a host and port that cannot be bound)
====  =======================  ==========================================================
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when needed: ``openkms --help`` loads no server code
    from openkms.server.bootstrap import StartupError


class Exit(IntEnum):
    OK = 0
    NEGATIVE = 1
    USAGE = 2
    MISSING_STATE = 3
    ROOT_KEY = 4
    DATABASE = 5
    CONFIG = 6


def for_startup_error(exc: StartupError) -> Exit:
    """The exit status of a startup error's kind."""
    from openkms.server.bootstrap import DatabaseStartupError, MissingStateError, RootKeyError

    if isinstance(exc, MissingStateError):
        return Exit.MISSING_STATE
    if isinstance(exc, RootKeyError):
        return Exit.ROOT_KEY
    if isinstance(exc, DatabaseStartupError):
        return Exit.DATABASE
    return Exit.CONFIG


def fail(message: str, status: Exit) -> int:
    """Print ``openkms: error: message`` (one line) and return ``status``."""
    print(f"openkms: error: {message}", file=sys.stderr)
    return int(status)


def startup_failure(exc: StartupError) -> int:
    """Report a startup error in one line; its kind's status."""
    return fail(str(exc), for_startup_error(exc))
