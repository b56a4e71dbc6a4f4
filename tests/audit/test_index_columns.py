"""The index columns are derived from the hashed record (issue 13 item 4); a record
that lacks what they need is refused, with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from openkms.domain.audit import RecordIndexError, index_columns
from openkms.service.kms.explain import principal_from_arn
from openkms.storage.engine import make_engine
from openkms.storage.repository import Store


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventID": "00000000-0000-4000-8000-000000000001",
        "eventTime": "2026-12-05T07:00:00Z",
        "recipientAccountId": "111122223333",
        "awsRegion": "us-east-1",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Encrypt",
        "userIdentity": {"type": "Root", "accessKeyId": "AKIA"},
        "readOnly": True,
        "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/k", "type": "AWS::KMS::Key"}],
    }
    record.update(changes)
    return record


def test_a_whole_record_gives_its_columns() -> None:
    columns = index_columns(_record())
    assert columns.username == "root" and columns.read_only is True
    assert columns.resources == (("arn:aws:kms:us-east-1:111122223333:key/k", "AWS::KMS::Key"),)


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        ({"eventTime": "yesterday"}, "is not a time"),
        ({"eventTime": 17}, "eventTime is not a string"),
        ({"readOnly": "yes"}, "readOnly is not a boolean"),
        ({"resources": ["arn"]}, "is not an object"),
        ({"resources": [{"type": "AWS::KMS::Key"}]}, "has no ARN"),
        ({"resources": [{"ARN": 5}]}, "resource ARN is not a string"),
        ({"userIdentity": {"userName": 3}}, "userIdentity.userName is not a string"),
    ],
)
def test_a_record_the_columns_cannot_come_from_is_refused(
    changes: dict[str, Any], found: str
) -> None:
    with pytest.raises(RecordIndexError, match=found):
        index_columns(_record(**changes))


def test_explain_names_what_it_cannot_find() -> None:
    store = Store(make_engine("sqlite://"))
    with pytest.raises(ValueError, match="no such role"):
        principal_from_arn(store, "arn:aws:sts::111122223333:assumed-role/nobody/session")
    with pytest.raises(ValueError, match="not a root, IAM user or assumed-role ARN"):
        principal_from_arn(store, "arn:aws:iam::111122223333:group/admins")
    store.close()
