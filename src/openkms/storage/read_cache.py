"""What read-only requests read from the database, kept in memory while it is current.

A cryptographic request reads the same few rows every time (the key, its alias, the
principal's policies, the key's grants); reading them costs more than the cryptography.
Repository functions that read such a row keep their answer here, by slot (e.g.
``("key", key_id)``), and answer from memory while the **state generation** has not
moved:

* Every transaction that changes state moves the generation on, in the database (the one
  row of ``state_generation``, in the same transaction) and, once it has committed, in
  this process (:meth:`ReadCache.invalidate`), before the request that made the change is
  answered. So a change (DisableKey, a new key policy, a revoked grant, a deleted alias)
  holds from the very next request served by the same process.
* Other processes (workers, nodes) learn of it by reading that row: a watcher thread
  (:meth:`openkms.storage.repository.Store.watch_generation`) reads it every
  :data:`WATCH_INTERVAL` seconds and empties the cache when it moved. A change made
  elsewhere therefore holds here within ``WATCH_INTERVAL`` plus one read of one row;
  :data:`CROSS_PROCESS_BOUND` (0.5 s, in the README) leaves room for a loaded machine.
* A read that started before an invalidation must not store what it read after it:
  every transaction notes the generation it started on, and :meth:`ReadCache.put`
  keeps an answer only if the generation is still that one.

Only plain reads use the cache. Write transactions read the database (with row locks
where they change), and so do reads that need one consistent snapshot. Values cached are
immutable (frozen dataclasses, tuples, strings), so sharing them between threads is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Final

#: Seconds between two reads of the state generation by each process's watcher.
WATCH_INTERVAL: Final = 0.05
#: The documented bound: a change committed by another process holds in this one within
#: this many seconds (a read every WATCH_INTERVAL, with room for a busy machine).
CROSS_PROCESS_BOUND: Final = 0.5
#: Slots kept before the cache is emptied (a bound on memory, not a policy).
MAX_ENTRIES: Final = 200_000


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What :meth:`ReadCache.get` answers for a slot it does not hold (None is a value).
MISSING: Final = _Missing()


class ReadCache:
    """Answers of read-only repository functions, valid for one state generation."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, object] = {}
        #: Moves on at every invalidation, here and when another process changed state.
        self.generation = 0
        #: The database's generation when last read (None: not read yet).
        self.seen: int | None = None
        self._lock = threading.Lock()
        #: Lookups and the misses among them (values put), for the metrics' hit rate.
        self.lookups = 0
        self.misses = 0

    def get(self, slot: Hashable) -> object:
        self.lookups += 1
        return self._entries.get(slot, MISSING)

    def put(self, generation: int, slot: Hashable, value: object) -> None:
        """Keep ``value`` if nothing changed since ``generation`` (the reader's start)."""
        # The dict first, then the generation: invalidate() moves the generation first,
        # then replaces the dict, so a value read before an invalidation lands either in
        # the dict it replaced or nowhere.
        self.misses += 1
        entries = self._entries
        if generation != self.generation:
            return
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[slot] = value

    def invalidate(self) -> None:
        """Forget everything: state changed (here or, seen by the watcher, elsewhere)."""
        with self._lock:
            self.generation += 1
            self._entries = {}  # after the generation: see put()

    def observe(self, database_generation: int) -> None:
        """The database's generation as just read: forget everything if it moved."""
        if database_generation != self.seen:
            self.invalidate()
            self.seen = database_generation
