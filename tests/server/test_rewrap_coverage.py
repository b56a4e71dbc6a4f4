"""``openkms admin rewrap`` must re-seal everything stored sealed: every keyring binding
label is either re-sealed by it or never stored, and every ``wrapped_*`` column of the
schema is one it walks. A new sealed value fails here until the rewrap covers it."""

from __future__ import annotations

from openkms.crypto import contexts
from openkms.server import rewrap
from openkms.storage import sealed
from openkms.storage.tables import metadata

#: Labels of values sealed for callers (returned, not stored) or of fingerprints (kept
#: valid across a rewrap by the stored fingerprint key).
NOT_STORED = {"IMPORT_TOKEN", "lookup_token", "LOOKUP_TOKEN_PREFIX", "imported_material"}
#: Settings the rewrap handles itself (the check value moves last; the fingerprint key first).
OWN = {"ROOT_KEY_CHECK", "FINGERPRINT_KEY"}


def test_every_binding_label_is_rewrapped_or_never_stored() -> None:
    covered = {getattr(f, "__name__", "") for f in rewrap.LABELS.values()}
    covered |= {
        name for name in contexts.__all__ if getattr(contexts, name) in rewrap.META_LABELS.values()
    }
    assert set(contexts.__all__) == covered | NOT_STORED | OWN
    assert not covered & NOT_STORED


def test_every_wrapped_column_is_walked() -> None:
    # Each family adds its tables to the metadata when its module is imported.
    import openkms.storage.audit.tables
    import openkms.storage.grants.tables
    import openkms.storage.identity.tables
    import openkms.storage.key_stores.tables
    import openkms.storage.keys.tables  # noqa: F401

    wrapped = {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if column.name.startswith("wrapped")
    }
    walked = {(c.table.name, c.column) for c in sealed.SEALED_COLUMNS}
    assert wrapped == walked
    assert set(rewrap.LABELS) == {c.name for c in sealed.SEALED_COLUMNS}
