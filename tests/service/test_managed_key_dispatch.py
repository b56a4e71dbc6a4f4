"""AWS managed keys in process (issue 14): ListAliases paging with the predefined aliases
at every page boundary, and DescribeKey creating the key once."""

from __future__ import annotations

import time

import pytest

from openkms.crypto.keyring import SoftwareKeyring, new_root_key
from openkms.domain.managed_keys import PREDEFINED_ALIASES
from openkms.domain.principals import Principal
from openkms.errors import NotFoundException
from openkms.service.context import RequestContext
from openkms.service.kms.dispatch import KMSService
from openkms.storage.engine import make_engine
from openkms.storage.repository import Store

ACCOUNT = "111122223333"


@pytest.fixture()
def service() -> KMSService:
    return KMSService(Store(make_engine("sqlite://")), SoftwareKeyring(new_root_key()))


def ctx() -> RequestContext:
    return RequestContext("req", Principal.root(ACCOUNT, "AK"), "us-east-1", time.time())


def listed(service: KMSService, limit: int) -> list[str]:
    names: list[str] = []
    params: dict[str, object] = {"Limit": limit}
    while True:
        page = service.dispatch(ctx(), "ListAliases", dict(params))
        assert len(page["Aliases"]) <= limit
        names += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            return names
        params["Marker"] = page["NextMarker"]


def test_list_aliases_pages_through_stored_and_predefined_names(service: KMSService) -> None:
    key = service.dispatch(ctx(), "CreateKey", {})["KeyMetadata"]["KeyId"]
    own = ["alias/a", "alias/aws-b", "alias/aws0", "alias/b", "alias/zz"]
    for name in own:
        service.dispatch(ctx(), "CreateAlias", {"AliasName": name, "TargetKeyId": key})
    service.dispatch(ctx(), "DescribeKey", {"KeyId": "alias/aws/rds"})  # now stored
    expected = sorted(own + list(PREDEFINED_ALIASES))
    for limit in range(1, len(expected) + 2):
        assert listed(service, limit) == expected, limit


def test_describe_key_creates_the_managed_key_once(service: KMSService) -> None:
    first = service.dispatch(ctx(), "DescribeKey", {"KeyId": "alias/aws/glue"})["KeyMetadata"]
    again = service.dispatch(
        ctx(), "DescribeKey", {"KeyId": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/glue"}
    )["KeyMetadata"]
    assert again["KeyId"] == first["KeyId"] and first["KeyManager"] == "AWS"
    keys = service.dispatch(ctx(), "ListKeys", {})["Keys"]
    assert [k["KeyId"] for k in keys] == [first["KeyId"]]
    # Another account's alias ARN creates nothing.
    other = "arn:aws:kms:us-east-1:444455556666:alias/aws/glue"
    with pytest.raises(NotFoundException, match="is not found"):
        service.dispatch(ctx(), "DescribeKey", {"KeyId": other})
    assert len(service.dispatch(ctx(), "ListKeys", {})["Keys"]) == 1
