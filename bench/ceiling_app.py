"""Anchor: the work every KMS request must do, and nothing else.

The shared ``real_app.py`` (bare ASGI under uvicorn: parse the JSON body, verify SigV4,
look the key up in a dict, AES-256-GCM, answer JSON; no policies, no grants, no audit
trail, no persistence) with its SigV4 check done by OpenKMS's own verifier
(:class:`openkms.auth.sigv4.SigV4Verifier`, a few microseconds) instead of botocore's
signer (tens of microseconds). So it is the fastest an OpenKMS request could be on this
machine if everything OpenKMS adds (authorization, validation against the model, the
durable audit trail) cost nothing: the ceiling between the floor and OpenKMS.

    PYTHONPATH=src OPENKMS_SHARED_BENCH=../shared/bench \\
        uvicorn ceiling_app:app --app-dir bench --workers 1 --no-access-log

``bench/compare_trees.py`` starts it as the side named ``ceiling``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from openkms.auth.sigv4 import SigV4Verifier
from openkms.errors import AWSError

sys.path.insert(
    0,
    os.environ.get(
        "OPENKMS_SHARED_BENCH", str(Path(__file__).resolve().parents[2] / "shared" / "bench")
    ),
)
import real_app  # the shared anchor, found on the path just set

_VERIFIER = SigV4Verifier(
    real_app.SECRETS.get, service="kms", required_signed_headers=("host", "x-amz-target")
)


def _verify(method: str, path: str, query: str, headers: Any, body: bytes) -> str:
    """real_app's contract: the signing region, or its KmsError."""
    try:
        return _VERIFIER.verify(method, path, query, headers, body).region
    except AWSError as err:
        raise real_app.KmsError(err.status, err.type_name, err.message) from None


real_app.verify_sigv4 = _verify
app = real_app.app
