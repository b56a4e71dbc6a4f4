"""Workers end with their parent (issue 13 item 6): the paths a Linux test server does not
take by itself, driven with the process's own calls replaced."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from openkms.server import lifeline


@pytest.fixture()
def kills(monkeypatch) -> list[tuple[int, int]]:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    return sent


def test_a_parent_already_gone_ends_the_worker_at_once(monkeypatch, kills) -> None:
    monkeypatch.setattr(lifeline, "_ask_kernel", lambda sig: True)
    monkeypatch.setattr(os, "getppid", lambda: 1)
    lifeline.end_with_parent(424242)
    assert kills == [(os.getpid(), signal.SIGTERM)]


def test_without_the_kernel_a_thread_watches_the_parent(monkeypatch, kills) -> None:
    parents = iter([424242, 424242, 1])  # the first check at start, then the watch
    monkeypatch.setattr(lifeline, "_ask_kernel", lambda sig: False)
    monkeypatch.setattr(os, "getppid", lambda: next(parents, 1))
    monkeypatch.setattr(lifeline, "WATCH_INTERVAL", 0.01)
    lifeline.end_with_parent(424242)
    for _ in range(500):
        if kills:
            break
        time.sleep(0.01)
    assert kills == [(os.getpid(), signal.SIGTERM)]


def test_the_kernel_is_asked_only_on_linux(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert lifeline._ask_kernel(signal.SIGTERM) is False
