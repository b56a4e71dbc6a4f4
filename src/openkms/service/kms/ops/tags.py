"""Tags: TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

from openkms.domain import tags
from openkms.domain.keys import require_manageable
from openkms.service.kms.call import OperationCall
from openkms.service.kms.paging import decode_marker, page
from openkms.service.kms.registry import operation
from openkms.storage.keys import repository as key_records
from openkms.wire.shapes import (
    ListResourceTagsRequest,
    ListResourceTagsResponse,
    TagResourceRequest,
    TagResourceResponse,
    UntagResourceRequest,
    UntagResourceResponse,
)


@operation("TagResource", writes=True)
def tag_resource(call: OperationCall[TagResourceRequest]) -> TagResourceResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html"""
    key = call.key
    require_manageable(key)
    new = tags.check_new_tags([(t["TagKey"], t["TagValue"]) for t in call.params["Tags"]])
    key_records.replace_tags(
        call.tx, key.key_id, tags.merged(key_records.get_tags(call.tx, key.key_id), new)
    )
    return {}


@operation("UntagResource", writes=True)
def untag_resource(call: OperationCall[UntagResourceRequest]) -> UntagResourceResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UntagResource.html"""
    key = call.key
    require_manageable(key)
    names = call.params["TagKeys"]
    tags.check_untag_keys(names)
    current = key_records.get_tags(call.tx, key.key_id)
    key_records.replace_tags(
        call.tx, key.key_id, {k: v for k, v in current.items() if k not in names}
    )
    return {}


@operation("ListResourceTags")
def list_resource_tags(call: OperationCall[ListResourceTagsRequest]) -> ListResourceTagsResponse:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListResourceTags.html"""
    limit = call.params.get("Limit", 50)
    current = sorted(key_records.get_tags(call.tx, call.key.key_id).items())
    after = decode_marker(call.params.get("Marker"), lambda m: m in dict(current))
    if after is not None:
        current = [item for item in current if item[0] > after]
    items, paging = page(current, limit, lambda item: item[0])
    return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in items], **paging}


#: This module's operations, registered by :mod:`openkms.service.kms.ops`.
OPERATIONS = (
    tag_resource,
    untag_resource,
    list_resource_tags,
)
