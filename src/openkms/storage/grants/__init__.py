"""Grant records: the ``kms_grants`` table, its statements and its repository.

* :mod:`.tables`: the table.
* :mod:`.statements`: every statement of this family.
* :mod:`.repository`: :class:`~openkms.domain.grants.Grant` values in and out, as
  functions over a :class:`~openkms.storage.repository.Tx`.
"""
