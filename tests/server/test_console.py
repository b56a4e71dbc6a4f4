"""The web console (``serve --console``): its files, its two signed calls, and every page
driven in a real browser (Debian's Chromium, headless, through Playwright).

One server for the module (production mode: signatures are verified, so the browser's
WebCrypto SigV4 signing is checked by the real verifier), one browser for the browser
test. A screenshot of each page goes to a ``console-shots`` directory under the run's
temporary directory; the paths are printed (``pytest -s``) and listed in its ``shots.txt``.

The browser test needs ``/usr/bin/chromium`` (``apt-get install chromium``; scripts/test
installs it when root) and the ``playwright`` package (the ``test`` extra); Playwright's
own browser downloads are never used. Without them it is skipped, unless
``OPENKMS_REQUIRE_BROWSER=1`` (scripts/test sets it), when it fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from servers import ServerProcess

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, make_client
from openkms.server.console_files import CONSOLE_PATH, ConsoleFiles

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A caller-chosen value that would run if a page inserted it as markup.
MARKUP = '<img src="x" onerror="window.pwned=1"><script>window.pwned=1</script>'
ROOT = {"AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY}
KMS_ALL = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
LOOKUP = {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}
SIMULATE = {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": "*"}
ASSUME = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
LIST_ONLY = {"Effect": "Allow", "Action": ["kms:ListKeys", "kms:DescribeKey"], "Resource": "*"}


@dataclass
class Console:
    server: ServerProcess
    key_id: str  # alias/payments, symmetric, rotation on, tagged, one grant
    signing_key_id: str
    users: dict[str, dict[str, str]]  # name -> access key pair

    @property
    def url(self) -> str:
        return self.server.endpoint + CONSOLE_PATH + "/"


def _user(iam: Any, name: str, statements: list[dict[str, Any]]) -> dict[str, str]:
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_user_policy(UserName=name, PolicyName="console", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data_dir = str(tmp_path_factory.mktemp("console-server"))
    server = ServerProcess.start(
        data_dir=data_dir,
        account=ACCOUNT,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_args=["--console", "--maintenance-interval", "0"],
    )
    try:
        kms = make_client(server.endpoint)
        key_id = kms.create_key(
            Description="payments data key", Tags=[{"TagKey": "team", "TagValue": "payments"}]
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/payments", TargetKeyId=key_id)
        kms.enable_key_rotation(KeyId=key_id)
        signing = kms.create_key(
            KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description=MARKUP
        )
        signing_id = signing["KeyMetadata"]["KeyId"]
        kms.create_grant(
            KeyId=key_id,
            GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/developer",
            Operations=["Decrypt", "Encrypt"],
            Name="app-server",
        )
        for _ in range(6):
            kms.encrypt(KeyId="alias/payments", Plaintext=b"card")
        for _ in range(3):
            kms.sign(KeyId=signing_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        iam = make_client(server.endpoint, service="iam")
        users = {
            "developer": _user(iam, "developer", [KMS_ALL]),
            "auditor": _user(iam, "auditor", [LOOKUP]),
            "explainer": _user(iam, "explainer", [SIMULATE, LIST_ONLY]),
            "admin": _user(iam, "admin", [SIMULATE, KMS_ALL, LOOKUP, ASSUME]),
        }
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(RoleName="operator", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName="operator",
            PolicyName="console",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [KMS_ALL]}),
        )
        yield Console(server, key_id, signing_id, users)
    finally:
        server.stop()


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def _signed(
    console: Console, operation: str, params: dict[str, Any], creds: dict[str, str] = ROOT
) -> tuple[int, dict[str, Any]]:
    """An ``OpenKMS.<operation>`` call signed by botocore's SigV4 signer (scope ``kms``)."""
    body = json.dumps(params).encode()
    request = AWSRequest(
        method="POST",
        url=console.server.endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "OpenKMS." + operation,
        },
    )
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]), "kms", REGION).add_auth(
        request
    )
    raw = urllib.request.Request(
        request.url, data=body, headers=dict(request.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(raw) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_console_files_carry_a_strict_policy_and_no_inline_code(console: Console) -> None:
    status, headers, page = _get(console.url)
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and headers["x-content-type-options"] == "nosniff"
    html = page.decode()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # one script, from a file
    assert re.search(r"\son[a-z]+=", html) is None and "style=" not in html
    assert "http://" not in html and "https://" not in html  # nothing from another origin
    status, headers, script = _get(console.url + "console.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert b"innerHTML" not in script and b"eval(" not in script and b"localStorage" not in script
    assert _get(console.url + "console.css")[0] == 200
    assert _get(console.url + "nothing.js")[0] == 404
    assert _get(console.url + "../health")[0] == 404  # no way out of the directory
    assert _get(console.server.endpoint + CONSOLE_PATH + "/%2e%2e/openkms.db")[0] == 404
    status, headers, _ = _get(console.server.endpoint + CONSOLE_PATH)
    assert status == 200  # urllib follows the 308 to the directory
    status, headers, body = _get(console.url, method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(page)
    # Off (production without --console): nothing under the path.
    off = ConsoleFiles(enabled=False)
    assert off.answer("GET", CONSOLE_PATH + "/")[0] == 404
    assert off.answer("GET", CONSOLE_PATH + "/console.js")[0] == 404


def test_explain_access_needs_each_read_it_shows(console: Console) -> None:
    users = console.users
    developer = f"arn:aws:iam::{ACCOUNT}:user/developer"
    ask = {"Principal": developer, "Action": "kms:Decrypt", "KeyId": console.key_id}
    status, answer = _signed(console, "ExplainAccess", ask)
    assert status == 200 and answer["Allowed"] is True
    assert (
        "== Key policy of" in answer["Explanation"] and "Result: ALLOWED" in answer["Explanation"]
    )
    auditor = {**ask, "Principal": f"arn:aws:iam::{ACCOUNT}:user/auditor"}
    status, answer = _signed(console, "ExplainAccess", auditor, users["admin"])
    assert status == 200 and answer["Allowed"] is False
    assert "Result: DENIED" in answer["Explanation"]
    # Without iam:SimulatePrincipalPolicy: refused before any read.
    status, answer = _signed(console, "ExplainAccess", ask, users["developer"])
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    assert "iam:SimulatePrincipalPolicy" in answer["message"]
    # Allowed to simulate, not to read the key policy: the GetKeyPolicy made as the caller
    # is refused by the key's authorization, and recorded as the caller's.
    status, answer = _signed(console, "ExplainAccess", ask, users["explainer"])
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    assert "kms:GetKeyPolicy" in answer["message"]
    lookup = make_client(console.server.endpoint, service="cloudtrail")
    events = lookup.lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "explainer"}]
    )["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    denied = [r for r in records if r["eventName"] == "GetKeyPolicy"]
    assert [r.get("errorCode") for r in denied] == ["AccessDeniedException"], records
    # Bad requests, with the AWS error of the failing step.
    other_account = {**ask, "Principal": "arn:aws:iam::444455556666:user/developer"}
    assert _signed(console, "ExplainAccess", other_account)[1]["__type"] == "AccessDeniedException"
    nobody = {**ask, "Principal": f"arn:aws:iam::{ACCOUNT}:user/nobody"}
    assert _signed(console, "ExplainAccess", nobody)[1]["__type"] == "NotFoundException"
    bad_action = {**ask, "Action": "s3:GetObject"}
    assert _signed(console, "ExplainAccess", bad_action)[1]["__type"] == "ValidationException"
    missing = {"Principal": developer, "Action": "kms:Decrypt"}
    assert _signed(console, "ExplainAccess", missing)[1]["__type"] == "ValidationException"
    no_key = {**ask, "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}
    assert _signed(console, "ExplainAccess", no_key)[1]["__type"] == "NotFoundException"
    alias = {**ask, "KeyId": "alias/payments"}  # as GetKeyPolicy: a key id or key ARN
    assert _signed(console, "ExplainAccess", alias)[1]["__type"] == "InvalidArnException"
    assert _signed(console, "Nothing", {})[1]["__type"] == "UnknownOperationException"
    wrong = {**ROOT, "SecretAccessKey": "not-the-secret"}
    status, answer = _signed(console, "ExplainAccess", ask, wrong)
    assert (status, answer["__type"]) == (400, "InvalidSignatureException")


def test_verify_audit_trail_for_who_may_read_the_trail(console: Console) -> None:
    status, answer = _signed(console, "VerifyAuditTrail", {})
    assert status == 200 and answer["Intact"] is True
    assert answer["Summary"].startswith("audit trail intact:")
    status, answer = _signed(console, "VerifyAuditTrail", {}, console.users["auditor"])
    assert status == 200 and answer["Intact"] is True
    status, answer = _signed(console, "VerifyAuditTrail", {}, console.users["developer"])
    assert (status, answer["__type"]) == (400, "AccessDeniedException")
    assert "cloudtrail:LookupEvents" in answer["message"]


def _browser() -> Any:
    """Playwright's Chromium launcher on Debian's Chromium, or skip (fail when required)."""
    required = os.environ.get("OPENKMS_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is required (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        if required:
            pytest.fail(f"{CHROMIUM} is required (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    return sync_playwright()


def _sign_in(page: Any, console: Console, creds: dict[str, Any]) -> None:
    page.goto(console.url)
    if "SessionToken" in creds:
        page.fill("#session-token", creds["SessionToken"])
    page.fill("#access-key", creds["AccessKeyId"])
    page.fill("#secret-key", creds["SecretAccessKey"])
    page.click("#login-form button[type=submit]")


def _ready(page: Any, name: str) -> None:
    page.wait_for_selector(f"#page[data-ready=true] #page-{name}")


def test_every_page_in_chromium(console: Console, tmp_path_factory: pytest.TempPathFactory) -> None:
    shots = tmp_path_factory.mktemp("console-shots")
    taken: list[Path] = []
    problems: list[str] = []

    def shot(page: Any, name: str) -> None:
        path = shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)

    with _browser() as playwright:
        from playwright.sync_api import expect

        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
            )
            # A wrong secret: the server refuses the signature; nothing is kept.
            _sign_in(page, console, {**ROOT, "SecretAccessKey": "wrong-secret"})
            page.wait_for_selector("#error:not([hidden])")
            assert "SignatureDoesNotMatch" in page.inner_text("#error")
            assert page.evaluate("sessionStorage.length") == 0
            shot(page, "login")

            _sign_in(page, console, ROOT)
            _ready(page, "keys")
            assert page.inner_text("#whoami").startswith(f"arn:aws:iam::{ACCOUNT}:root")
            row = page.locator(f"tr[data-key-id='{console.key_id}']")
            text = row.inner_text()
            for expected in ("alias/payments", "Enabled", "SYMMETRIC_DEFAULT", "on (365 d"):
                assert expected in text
            assert "team=payments" in text and "payments data key" in text
            signing = page.locator(f"tr[data-key-id='{console.signing_key_id}']").inner_text()
            assert "ECC_NIST_P256" in signing and "n/a" in signing
            assert MARKUP in signing  # shown as text, never parsed
            assert page.evaluate(
                "window.pwned === undefined && !document.querySelector('main img')"
            )
            stored = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
            assert SECRET_KEY in stored and page.evaluate("localStorage.length") == 0
            shot(page, "keys")

            row.locator("a").first.click()
            _ready(page, "key")
            policy = json.loads(page.inner_text("#key-policy"))
            assert policy["Statement"][0]["Action"] == "kms:*"
            page.fill("#explain-principal", f"arn:aws:iam::{ACCOUNT}:user/developer")
            page.click("#explain-form button[type=submit]")
            page.wait_for_selector("#explain-verdict")
            assert page.inner_text("#explain-verdict") == "ALLOWED"
            assert "app-server" in page.inner_text("#page-key")  # its grant
            shot(page, "key-policy-explain")

            page.click("nav a[data-page=grants]")
            _ready(page, "grants")
            grants = page.inner_text("#page-grants")
            assert "app-server" in grants and "Decrypt, Encrypt" in grants
            shot(page, "grants")

            page.click("nav a[data-page=audit]")
            _ready(page, "audit")
            page.wait_for_selector("#chain-status[data-intact=true]")
            assert "INTACT" in page.inner_text("#chain-status")
            page.select_option("#audit-key", "EventName")
            page.fill("#audit-value", "Sign")
            page.click("#audit-filter button[type=submit]")
            # (Playwright's wait_for_function evaluates a string: the page's CSP forbids it.)
            expect(page.locator("#audit-results tbody tr")).to_have_count(3)
            events = page.locator("#audit-results tbody tr td:nth-child(2)").all_inner_texts()
            assert events == ["Sign", "Sign", "Sign"]
            shot(page, "audit")

            page.click("nav a[data-page=activity]")
            _ready(page, "activity")
            page.wait_for_selector("#activity-svg polyline")
            keys = page.locator("#activity-svg polyline").evaluate_all(
                "lines => lines.map(l => l.dataset.key)"
            )
            assert console.key_id in keys and console.signing_key_id in keys
            assert "alias/payments" in page.inner_text("#activity-legend")
            shot(page, "activity")

            page.click("#signout")
            page.wait_for_selector("#login:not([hidden])")
            assert page.evaluate("sessionStorage.length") == 0

            # Another caller sees what its own permissions allow, and nothing more.
            _sign_in(page, console, console.users["auditor"])
            _ready(page, "keys")
            page.wait_for_selector("#error:not([hidden])")
            assert "AccessDeniedException" in page.inner_text("#error")
            assert re.search(r"kms:List(Keys|Aliases)", page.inner_text("#error"))
            shot(page, "keys-denied")
            page.click("nav a[data-page=audit]")
            _ready(page, "audit")
            page.wait_for_selector("#chain-status[data-intact=true]")
            page.click("#signout")

            # Temporary credentials: the session token is signed and sent with each call.
            admin = console.users["admin"]
            sts = make_client(
                console.server.endpoint,
                service="sts",
                access_key=admin["AccessKeyId"],
                secret_key=admin["SecretAccessKey"],
            )
            session = sts.assume_role(
                RoleArn=f"arn:aws:iam::{ACCOUNT}:role/operator", RoleSessionName="console"
            )["Credentials"]
            _sign_in(page, console, session)
            _ready(page, "keys")
            assert page.inner_text("#whoami").startswith(
                f"arn:aws:sts::{ACCOUNT}:assumed-role/operator/console"
            )
            page.locator(f"tr[data-key-id='{console.key_id}']").wait_for()
        finally:
            browser.close()
    (shots / "shots.txt").write_text("".join(f"{path}\n" for path in taken))
    print("\nconsole screenshots:\n" + "\n".join(str(path) for path in taken))
    assert problems == []


def test_dev_mode_serves_the_console_on_memory_state(tmp_path) -> None:
    server = ServerProcess.start(
        data_dir=None, dev=True, extra_env={"TMPDIR": str(tmp_path)}, extra_args=[]
    )
    try:
        dev = Console(server, "", "", {})
        assert _get(dev.url)[0] == 200
        status, answer = _signed(dev, "VerifyAuditTrail", {})
        assert status == 200 and answer["Intact"] is None
        assert "In-memory state signs no digests" in answer["Summary"]
        key = make_client(server.endpoint).create_key()["KeyMetadata"]["Arn"]
        ask = {"Principal": f"arn:aws:iam::{ACCOUNT}:root", "Action": "kms:Encrypt", "KeyId": key}
        status, answer = _signed(dev, "ExplainAccess", ask)
        assert status == 200 and answer["Allowed"] is True
    finally:
        server.stop()


def test_production_serves_no_console_without_the_option(tmp_path, monkeypatch) -> None:
    """In process (no lifespan; the audit writer is a thread): the default settings."""
    import asyncio

    from openkms.server.app import OpenKMSApp
    from openkms.server.bootstrap import Settings, build

    monkeypatch.setenv("OPENKMS_ROOT_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("OPENKMS_ROOT_SECRET_ACCESS_KEY", SECRET_KEY)
    settings = Settings(data_dir=str(tmp_path), database=None, account_id=ACCOUNT)
    assert settings.console is False
    app = OpenKMSApp(build(dataclasses.replace(settings, audit_writer="thread")))

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "client": ("127.0.0.1", 1),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def out(message: Any) -> None:
            sent.append(dict(message))

        asyncio.run(app(scope, receive, out))
        return sent[0]["status"], sent[1]["body"]

    try:
        assert send("GET", CONSOLE_PATH + "/", {"host": "localhost"}, b"")[0] == 404
        request = AWSRequest(
            method="POST",
            url="http://localhost/",
            data=b"{}",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "OpenKMS.VerifyAuditTrail",
            },
        )
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kms", REGION).add_auth(request)
        headers = {"host": "localhost", **dict(request.headers.items())}
        status, body = send("POST", "/", headers, b"{}")
        assert (status, json.loads(body)["__type"]) == (400, "UnknownOperationException")
    finally:
        app.runtime.audit.close()  # type: ignore[union-attr]
        app.runtime.store.close()
