"""Marker paging, as every KMS List operation does it: a page is read as ``limit + 1`` items,
the last item of a page is the marker of the next one, and a marker that names no item is
InvalidMarkerException.

The members (Limit, Marker, NextMarker, Truncated):
https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html
"""

from __future__ import annotations

from typing import Any

from openkms.errors import InvalidMarkerException


def decode_marker(marker: str | None, valid: Any) -> str | None:
    """Markers are the last item of the previous page; anything else is InvalidMarkerException."""
    if marker is None:
        return None
    if not valid(marker):
        raise InvalidMarkerException("The request was rejected because the marker is not valid.")
    return marker


def page(items: list[Any], limit: int, marker_of: Any) -> tuple[list[Any], dict[str, Any]]:
    """Split a fetch of ``limit + 1`` items into a page and the paging members."""
    if len(items) > limit:
        items = items[:limit]
        return items, {"Truncated": True, "NextMarker": marker_of(items[-1])}
    return items, {"Truncated": False}
