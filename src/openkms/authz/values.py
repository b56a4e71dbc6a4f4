"""Typed values for the Numeric, Date, Bool, Binary and IP-address condition operators.

Each ``*_of`` function converts one value, from a policy or from a request context, and
returns ``None`` when it cannot: a policy value that does not convert is a malformed
policy; a context value that does not convert simply matches nothing. Sources
("IAM JSON policy elements: Condition operators",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

* Numeric: "comparing a key to an integer or decimal value".
* Date: "You must specify date/time values with one of the W3C implementations of the
  ISO 8601 date formats or in epoch (UNIX) time." (YYYY, YYYY-MM, YYYY-MM-DD,
  YYYY-MM-DDThh:mmTZD, YYYY-MM-DDThh:mm:ssTZD, YYYY-MM-DDThh:mm:ss.sTZD; a missing TZD is
  read as UTC.) "Wildcards are not permitted for date condition operators."
* Bool: "comparing a key to "true" or "false"" (JSON booleans are accepted too, as in the
  KMS examples ``"kms:GrantIsForAWSResource": true``).
* BinaryEquals: "compares the value of the specified key byte for byte against a base-64
  encoded representation of the binary value in the policy".
* IpAddress: "The value must be in the standard CIDR format (for example, 203.0.113.0/24
  or 2001:DB8:1234:5678::/64). If you specify an IP address without the associated
  routing prefix, IAM uses the default prefix value of /32."
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?")
_W3C_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def number_of(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def timestamp_of(value: object) -> float | None:
    """Seconds since the epoch for a datetime, epoch number or ISO 8601 string."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _EPOCH.fullmatch(text):
        return float(text)
    return _iso_timestamp(text)


def _iso_timestamp(text: str) -> float | None:
    match = _W3C_DATE.fullmatch(text)
    if match is None:
        return None
    g = match.groupdict()
    tz = UTC
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(
            int(g["y"]),
            int(g["mo"] or 1),
            int(g["d"] or 1),
            int(g["h"] or 0),
            int(g["mi"] or 0),
            int(g["s"] or 0),
            int((g["f"] or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return moment.timestamp()


def bool_of(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def binary_of_policy(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def binary_of_context(value: object) -> bytes | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return binary_of_policy(value)


def network_of(value: object) -> IPNetwork | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def address_of(value: object) -> IPAddress | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None
