"""The argument parser class every ``openkms`` command uses, and the type of the
top-level subparsers that each command module (``admin``, ``audit``...) registers on.

Its own module so the command modules can name the type without importing ``main``
(which imports them).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from argparse import _SubParsersAction


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit status 2, Exit.USAGE)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


if TYPE_CHECKING:
    #: The top-level subparsers (argparse's ``add_subparsers`` result; typeshed's name).
    Commands = _SubParsersAction[Parser]
