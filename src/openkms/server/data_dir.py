"""The data directory's permissions, as ``openkms serve`` reports them at start."""

from __future__ import annotations

import logging
import os
import stat

log = logging.getLogger("openkms.server")


def warn_if_shared(path: str) -> None:
    """One warning line when group or others may read or write the data directory (the
    server says it once at start; the directory may be shared on purpose)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o066:
        log.warning(
            "data directory %s is readable or writable by group or others (mode %04o); "
            "it holds the root key and the database: chmod 700 it",
            path,
            mode,
        )
