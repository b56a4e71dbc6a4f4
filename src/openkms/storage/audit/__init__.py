"""The audit trail's records: its tables, statements and repositories.

* :mod:`.tables`: the chain head, events, their resources and the signed digests.
* :mod:`.statements`: every statement of this family.
* :mod:`.trail`: appending to the hash chain, reading it back, sealing digests.
* :mod:`.lookup`: CloudTrail LookupEvents.
* :mod:`.usage`: key usage (GetKeyLastUsage) read from the trail.

Moved here as it was; its storage is to be redesigned with the hot path.
"""
