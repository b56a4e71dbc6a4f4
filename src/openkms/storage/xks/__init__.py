"""XKS proxy records: external keys and the proxy's SigV4 credentials.

* :mod:`.tables`: their tables.
* :mod:`.statements`: every statement of this family.
* :mod:`.repository`: external keys and credentials, as functions over a
  :class:`~openkms.storage.repository.Tx`, rows decoded by column name.
"""
