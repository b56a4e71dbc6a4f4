"""The hash chain: canonical JSON and the link hash (defined in
:mod:`openkms.domain.audit`, where storage and crypto can use them too).

One global chain over every account and region, in append order: ``hash[n] =
link_hash(hash[n-1], n, canonical_json(record[n]))`` with ``hash[0] = GENESIS``. A
global chain makes a removed, inserted or reordered record detectable whatever its
account, and a single head row serialises appends across server nodes.
"""

from __future__ import annotations

from openkms.domain.audit import (
    GENESIS,
    PendingRecord,
    StoredEvent,
    canonical_json,
    link_hash,
)

__all__ = ["GENESIS", "PendingRecord", "StoredEvent", "canonical_json", "link_hash"]
