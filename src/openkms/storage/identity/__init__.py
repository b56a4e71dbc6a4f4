"""IAM identity and STS session records: their tables, statements and repositories.

* :mod:`.tables`: accounts, users, roles, inline policies, STS sessions, and the
  principals each key policy names (``kms_key_policy_principals``).
* :mod:`.statements`: every statement of this family.
* :mod:`.repository`: the identity values in and out, as functions over a
  :class:`~openkms.storage.repository.Tx`.
* :mod:`.bindings`: the key-policy principal bindings.
"""
