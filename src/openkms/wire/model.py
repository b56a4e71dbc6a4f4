"""The AWS KMS service model, loaded once from botocore's bundled data.

Everything the wire layer knows about KMS requests (operation names, member names,
types, required members, length/value/enum/pattern constraints, sensitivity) comes
from this model; nothing is hand-typed. It is the same JSON the AWS SDKs are
generated from, so a request an SDK can send is, by construction, one we understand.

The model is read only from botocore's *bundled* data directory, not from
``~/.aws/models`` or ``AWS_DATA_PATH``: what the server accepts must not depend on the
home directory of whoever runs it.

Botocore ships no type stubs, so the botocore objects handed out here are typed
``Any``: :class:`botocore.model.ServiceModel` for :data:`KMS_MODEL` and
:class:`botocore.model.StructureShape` for :func:`input_shape`.
"""

from __future__ import annotations

import os
from typing import Any, Final

import botocore
import botocore.loaders
import botocore.model

SERVICE_NAME: Final = "kms"


def _load_service_model() -> Any:
    """Load ``kms/<latest api version>/service-2.json`` from botocore's own data dir."""
    builtin = os.path.join(botocore.BOTOCORE_ROOT, "data")
    loader = botocore.loaders.Loader(
        extra_search_paths=[builtin], include_default_search_paths=False
    )
    raw = loader.load_service_model(SERVICE_NAME, "service-2")
    return botocore.model.ServiceModel(raw, service_name=SERVICE_NAME)


#: The KMS :class:`botocore.model.ServiceModel`, loaded once at import.
KMS_MODEL: Final[Any] = _load_service_model()

_OPERATION_NAMES: Final[frozenset[str]] = frozenset(KMS_MODEL.operation_names)


def operation_names() -> frozenset[str]:
    """Every operation the model defines (``"Encrypt"``, ``"CreateKey"``, ...)."""
    return _OPERATION_NAMES


def input_shape(operation: str) -> Any:
    """The input :class:`~botocore.model.StructureShape` of ``operation`` (None: no input).

    Raises :class:`KeyError` for a name the model does not define, so callers never
    silently treat a typo as an operation without input.
    """
    if operation not in _OPERATION_NAMES:
        raise KeyError(operation)
    return KMS_MODEL.operation_model(operation).input_shape
