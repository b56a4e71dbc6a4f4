"""Key records: keys, material versions, aliases, tags and import tokens.

* :mod:`.tables`: their tables.
* :mod:`.statements`: every statement of this family.
* :mod:`.rows`: rows to domain values and back, by column name.
* :mod:`.repository`: keys, material versions, aliases and tags, as functions over a
  :class:`~openkms.storage.repository.Tx`.
* :mod:`.lifecycle`: import tokens and due maintenance work, likewise.
"""
