"""Resource tags and the rules AWS applies to them
(https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from openkms.errors import TagException

MAX_TAGS_PER_KEY = 50
RESERVED_PREFIX = "aws:"


def check_new_tags(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Validate tags from a request; return them as a dict. Duplicate keys are refused."""
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key.lower().startswith(RESERVED_PREFIX):
            raise TagException("Tags beginning with aws: are reserved")
        if key in tags:
            raise TagException("Duplicate tag keys")
        tags[key] = value
    return tags


def merged(existing: Mapping[str, str], new: Mapping[str, str]) -> dict[str, str]:
    """Apply TagResource: new values replace old ones; the result may hold at most 50 tags."""
    result = {**existing, **new}
    if len(result) > MAX_TAGS_PER_KEY:
        raise TagException("Too many tags")
    return result


def check_untag_keys(keys: Sequence[str]) -> None:
    for key in keys:
        if key.lower().startswith(RESERVED_PREFIX):
            raise TagException("Tags beginning with aws: are reserved")
