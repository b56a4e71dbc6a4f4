"""Marker paging, as every KMS List operation does it: a page is read as ``limit + 1`` items,
the last item of a page is the marker of the next one, and a marker that names no item is
InvalidMarkerException.

The members (Limit, Marker, NextMarker, Truncated):
https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict, TypeVar

from openkms.errors import InvalidMarkerException

Item = TypeVar("Item")


class Paging(TypedDict, total=False):
    """The paging members every List response has (``NextMarker`` when truncated)."""

    Truncated: bool
    NextMarker: str


def decode_marker(marker: str | None, valid: Callable[[str], bool]) -> str | None:
    """Markers are the last item of the previous page; anything else is InvalidMarkerException."""
    if marker is None:
        return None
    if not valid(marker):
        raise InvalidMarkerException("The request was rejected because the marker is not valid.")
    return marker


def page(
    items: list[Item], limit: int, marker_of: Callable[[Item], str]
) -> tuple[list[Item], Paging]:
    """Split a fetch of ``limit + 1`` items into a page and the paging members."""
    if len(items) > limit:
        items = items[:limit]
        return items, {"Truncated": True, "NextMarker": marker_of(items[-1])}
    return items, {"Truncated": False}
