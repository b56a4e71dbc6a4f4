"""``openkms usage report``: what the workload in the audit trail would cost on AWS KMS.

    openkms usage report [--data-dir DIR | --database URL] [--account ID]
                         [--month 2026-12 | --since 2026-12-01 --until 2026-12-15]
                         [--format table|json|csv] [--prices FILE]

Per key and per account: successful requests by AWS billing class, key-months (prorated
by the time each key existed in the window; a key pending deletion is not billed, the
first two rotations add a month each), and the price at AWS's list prices
(:data:`openkms.domain.billing.LIST_PRICES`, dated; ``--prices FILE`` overrides any part,
see the README). The counts come from the usage rollup, brought up to date from the audit
trail first (only records not yet counted are read). Default window: this UTC month.
Needs no root key: nothing sealed is read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from openkms.cli.admin import cli_settings, storage_options
from openkms.domain.billing import BillingClass

if TYPE_CHECKING:
    from openkms.cli.parsing import Commands
    from openkms.service.usage_report import Usage, UsageReport, Window


def _account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise argparse.ArgumentTypeError(f"account id must be 12 digits, not {value!r}")
    return value


def _month(value: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"--month wants YYYY-MM, e.g. 2026-12, not {value!r}")
    return int(found.group(1)), int(found.group(2))


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"wants a UTC date YYYY-MM-DD, e.g. 2026-12-01, not {value!r}"
        ) from None


def add_parser(commands: Commands) -> None:
    usage = commands.add_parser("usage", help="usage and cost at AWS KMS list prices")
    actions = usage.add_subparsers(
        dest="usage_command", metavar="COMMAND", required=True, parser_class=type(usage)
    )
    report = actions.add_parser("report", help="requests, key-months and price per key/account")
    storage_options(report)
    report.add_argument("--account", type=_account_id, help="only this account")
    report.add_argument("--month", type=_month, help="a UTC month, YYYY-MM (default: this one)")
    report.add_argument("--since", type=_day, help="first UTC day, YYYY-MM-DD")
    report.add_argument("--until", type=_day, help="last UTC day (included), YYYY-MM-DD")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.add_argument(
        "--prices", metavar="FILE", help="JSON file overriding the built-in list prices"
    )


def _window(args: argparse.Namespace) -> Window | str:
    from openkms.service.usage_report import Window

    if args.month is not None and (args.since or args.until):
        return "give --month or --since/--until, not both"
    if args.since or args.until:
        today = datetime.now(UTC).date()
        first = args.since or today.replace(day=1)
        last = args.until or today
        if last < first:
            return f"--until {last} is before --since {first}"
        return Window(first, last)
    year, month = args.month or (datetime.now(UTC).year, datetime.now(UTC).month)
    return Window.month(year, month)


def run(args: argparse.Namespace) -> int:
    from openkms.cli.exit_codes import Exit, fail, startup_failure
    from openkms.domain.billing import LIST_PRICES, PriceFileError, prices_from
    from openkms.server.bootstrap import StartupError, open_store
    from openkms.service.usage_report import usage_report
    from openkms.service.usage_rollup import roll_up
    from openkms.storage.repository import StorageError

    window = _window(args)
    if isinstance(window, str):
        return fail(window, Exit.USAGE)
    prices = LIST_PRICES
    if args.prices:
        try:
            with open(args.prices, encoding="utf-8") as fh:
                prices = prices_from(fh.read())
        except OSError as exc:
            return fail(f"cannot read price file {args.prices}: {exc.strerror}", Exit.CONFIG)
        except PriceFileError as exc:
            return fail(f"price file {args.prices}: {exc}", Exit.CONFIG)
    try:
        store = open_store(cli_settings(args), create=False)
    except StartupError as exc:
        return startup_failure(exc)
    try:
        roll_up(store)
        report = usage_report(store, window, prices, account=args.account, now=time.time())
    except StorageError as exc:
        return fail(f"database error: {exc}", Exit.DATABASE)
    finally:
        store.close()
    render = {"table": _table, "json": _json, "csv": _csv}[args.format]
    sys.stdout.write(render(report))
    return 0


def _classes(report: UsageReport) -> list[str]:
    """The billing classes with any request in the report, in the table's order."""
    used = {name for line in report.accounts for name, n in line.requests.items() if n}
    return [c.value for c in BillingClass if c.value in used]


def _as_dict(line: Usage) -> dict[str, Any]:
    return {
        "AccountId": line.account,
        **({"Region": line.region, "KeyArn": line.key_arn, "KeySpec": line.key_spec} if
           line.region else {}),
        "Requests": {c.value: line.requests.get(c.value, 0) for c in BillingClass},
        # Months to 1e-9 (about 3 ms): a key a second old is 4e-7 of a month.
        "KeyMonths": round(line.key_months, 9),
        "RotationMonths": round(line.rotation_months, 9),
        "KeyDays": round(line.key_days, 6),
        "RequestsUSD": round(line.request_usd, 6),
        "KeysUSD": round(line.key_usd, 6),
        "FreeTierUSD": round(line.free_tier_usd, 6),
        "TotalUSD": round(line.total_usd, 6),
    }  # fmt: skip


def _json(report: UsageReport) -> str:
    prices = report.prices
    document = {
        "Window": {
            "First": report.window.first.isoformat(),
            "Last": report.window.last.isoformat(),
        },
        "Prices": {
            "Effective": prices.effective,
            "Source": prices.source,
            "KeyMonth": prices.key_month,
            "RotationMonth": prices.rotation_month,
            "BilledRotations": prices.billed_rotations,
            "FreeRequests": prices.free_requests,
            "Per10kRequests": {c.value: p for c, p in prices.per_10k.items()},
        },
        "Accounts": [_as_dict(line) for line in report.accounts],
        "Keys": [_as_dict(line) for line in report.keys],
    }
    return json.dumps(document, indent=2) + "\n"


_CSV_HEAD = ["scope", "account_id", "region", "key_arn", "key_spec"]
_CSV_TAIL = ["key_months", "rotation_months", "key_days", "requests_usd", "keys_usd"]


def _csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    classes = [c.value for c in BillingClass]
    writer.writerow(_CSV_HEAD + classes + _CSV_TAIL + ["free_tier_usd", "total_usd"])
    for scope, lines in (("account", report.accounts), ("key", report.keys)):
        for line in lines:
            writer.writerow(
                [scope, line.account, line.region, line.key_arn, line.key_spec]
                + [line.requests.get(c, 0) for c in classes]
                + [f"{line.key_months:.9f}", f"{line.rotation_months:.9f}", f"{line.key_days:.6f}"]
                + [f"{line.request_usd:.6f}", f"{line.key_usd:.6f}"]
                + [f"{line.free_tier_usd:.6f}", f"{line.total_usd:.6f}"]
            )
    return out.getvalue()


def _table(report: UsageReport) -> str:
    prices, window = report.prices, report.window
    lines = [
        f"Usage {window.first}..{window.last} (UTC) at AWS KMS list prices of "
        f"{prices.effective} ({prices.source})",
    ]
    classes = _classes(report)
    head = ["ACCOUNT", "KEY", "SPEC", *(c.upper() for c in classes), "KEY-MONTHS", "USD"]
    rows = [head]
    for line in report.keys:
        key = line.key_arn.rsplit("/", 1)[-1] if line.key_arn else "(no key)"
        rows.append(
            [line.account, key, line.key_spec or "-"]
            + [str(line.requests.get(c, 0)) for c in classes]
            + [f"{line.key_months + line.rotation_months:.3f}", f"{line.total_usd:.4f}"]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append("")
    for total in report.accounts:
        lines.append(
            f"account {total.account}: {sum(total.requests.values())} requests "
            f"${total.request_usd:.4f}, {total.key_months + total.rotation_months:.3f} "
            f"key-months ${total.key_usd:.4f}, free tier -${total.free_tier_usd:.4f}, "
            f"total ${total.total_usd:.4f}"
        )
    if not report.accounts:
        lines.append("no usage in this window")
    return "\n".join(lines) + "\n"
