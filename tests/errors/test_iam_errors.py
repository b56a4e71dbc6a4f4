"""IAM/STS error classes carry the codes and HTTP statuses of botocore's models."""

from __future__ import annotations

import botocore.session
import pytest

from openkms.errors import IdentityError
from openkms.errors import iam as iam_errors

_MODELED = {}
for _service in ("iam", "sts"):
    _model = botocore.session.get_session().get_service_model(_service)
    for _shape_name in _model.shape_names:
        _shape = _model.shape_for(_shape_name)
        _error = _shape.metadata.get("error")
        if _shape.metadata.get("exception") and _error:
            _MODELED[_error["code"]] = _error["httpStatusCode"]

#: The query protocol's common errors, which the models do not list.
_COMMON = {"AccessDenied": 403, "ValidationError": 400, "UnsupportedOperation": 400}


@pytest.mark.parametrize(
    "cls",
    [
        c
        for c in vars(iam_errors).values()
        if isinstance(c, type) and issubclass(c, IdentityError) and c is not IdentityError
    ],
)
def test_code_and_status_match_the_model(cls: type[IdentityError]) -> None:
    expected = _MODELED.get(cls.code, _COMMON.get(cls.code))
    assert expected is not None, f"{cls.code} is in neither model"
    assert cls("m").status == expected
    assert cls("m").type_name == cls.code
