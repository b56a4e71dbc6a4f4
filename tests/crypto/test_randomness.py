"""Blocks of kernel randomness handed out once each, never shared with a forked child."""

from __future__ import annotations

import os

from openkms.crypto import randomness
from openkms.crypto.randomness import BLOCK, random_bytes


def test_bytes_are_handed_out_once_across_blocks() -> None:
    drawn = [random_bytes(28) for _ in range(3 * BLOCK // 28)]
    assert all(len(d) == 28 for d in drawn)
    assert len(set(drawn)) == len(drawn)


def test_large_requests_come_straight_from_the_kernel() -> None:
    assert len(random_bytes(BLOCK)) == BLOCK
    assert random_bytes(BLOCK) != random_bytes(BLOCK)


def test_a_forked_child_draws_other_bytes() -> None:
    random_bytes(16)  # the parent has a block in hand
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_bytes(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child != random_bytes(16)
    assert randomness._pool.block.find(child) == -1
