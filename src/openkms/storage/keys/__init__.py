"""Key records: keys, material versions, aliases, tags and import tokens.

* :mod:`.tables`: their tables.
* :mod:`.statements`: every statement of this family.
* :mod:`.rows`: rows to domain values and back, by column name.
* :mod:`.lifecycle`: import tokens and due maintenance work, as functions over a
  :class:`~openkms.storage.repository.Tx`.

The key, material, alias and tag repositories are still methods of
:class:`~openkms.storage.repository.Tx` (to be converted to functions here).
"""
