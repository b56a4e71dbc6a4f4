"""The usage rollup's records (``openkms usage report``): request counts per account,
key, UTC day and billing class, the keys' billable lives, and the audit seq the rollup
has reached.

* :mod:`.tables`: ``usage_daily``, ``usage_monthly``, ``usage_keys``, ``usage_rollup``.
* :mod:`.statements`: every statement of this family.
* :mod:`.repository`: reading new audit records, adding counts, reading a window.
"""
