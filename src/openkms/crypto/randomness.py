"""Random bytes for the request path, drawn from the operating system in blocks.

Every Encrypt needs 28 random bytes (HKDF salt and GCM IV), every GenerateDataKey 32 more,
and every request an id. ``os.urandom`` is one system call each time, and a system call
releases Python's GIL: while another thread (the audit writer) holds it, getting it back
costs up to a switch interval, many times the call itself. So each thread takes
:data:`BLOCK` bytes from ``os.urandom`` at once and hands them out in order; the bytes are
the kernel's CSPRNG output, unchanged, each byte handed out once.

After ``fork`` the child starts with empty blocks (``os.register_at_fork``), so parent
and child never hand out the same bytes. Bytes not yet handed out sit in process memory
like the key material already does; nothing here is ever written anywhere.
"""

from __future__ import annotations

import os
import threading
from typing import Final

#: Bytes taken from the kernel at a time, per thread.
BLOCK: Final = 4096


class _Pool(threading.local):
    def __init__(self) -> None:
        self.block = b""
        self.offset = 0


_pool = _Pool()


def _forget_after_fork() -> None:
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_after_fork)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the kernel's CSPRNG (``os.urandom``), in blocks."""
    if n > BLOCK // 4:
        return os.urandom(n)
    pool = _pool
    start = pool.offset
    end = start + n
    if end > len(pool.block):
        pool.block = os.urandom(BLOCK)
        start, end = 0, n
    pool.offset = end
    return pool.block[start:end]
