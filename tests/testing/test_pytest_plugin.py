"""The pytest plugin (openkms.testing.pytest_plugin), run by pytest itself (``pytester``)
in a subprocess, as a project using OpenKMS would: its fixtures against a real server, the
seed file from the ini file, a reset between tests, the environment for code that makes
its own clients, the server stopped at the end, and a start failure reported.

Plugin autoloading is off in the inner runs and the plugin is named with ``-p``, so the
runs are the same whether or not the installed OpenKMS registers the entry point."""

from __future__ import annotations

import json
import os
import socket
import tomllib
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

SEEDED = "1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT = Path(__file__).resolve().parents[2]

INNER_TESTS = f"""
import json
import os

import boto3
import pytest

pytestmark = pytest.mark.usefixtures("openkms_reset")


def test_the_client_reaches_a_real_server(kms_client, openkms_endpoint, openkms_server):
    assert openkms_endpoint == openkms_server.endpoint
    assert openkms_endpoint.startswith("http://127.0.0.1:")
    key = kms_client.create_key(Description="made by a test")["KeyMetadata"]["KeyId"]
    blob = kms_client.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    assert kms_client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    with open(os.environ["PROBE"], "w") as fh:
        json.dump({{"pid": openkms_server.pid, "port": openkms_server.port}}, fh)


def test_a_reset_wiped_the_last_test_and_the_seed_is_back(kms_client):
    assert [k["KeyId"] for k in kms_client.list_keys()["Keys"]] == ["{SEEDED}"]


def test_code_that_makes_its_own_client_finds_the_server(openkms_aws_env, openkms_endpoint):
    assert os.environ["AWS_ENDPOINT_URL_KMS"] == openkms_endpoint
    assert "AWS_PROFILE" not in os.environ
    client = boto3.client("kms")  # no endpoint, region or credentials given
    assert client.describe_key(KeyId="alias/seeded")["KeyMetadata"]["KeyId"] == "{SEEDED}"


def test_the_environment_is_restored_after_the_test():
    assert os.environ.get("AWS_ENDPOINT_URL_KMS") is None
    assert os.environ["AWS_PROFILE"] == "someone-else"
"""


def run_inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # The developer's own profile, which would send requests elsewhere: the fixtures'
    # clients and environment must win over it.
    config = pytester.path / "aws-config"
    config.write_text(
        "[profile someone-else]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:9\n"
        "aws_access_key_id = AKIASOMEONEELSE00000\naws_secret_access_key = x\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    monkeypatch.delenv("AWS_ENDPOINT_URL_KMS", raising=False)
    return pytester.runpytest_subprocess("-p", "openkms.testing.pytest_plugin", "-q")


def test_fixtures_against_a_real_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = pytester.path / "probe.json"
    monkeypatch.setenv("PROBE", str(probe))
    pytester.makefile(".yaml", seed=f"keys:\n  - id: {SEEDED}\n    aliases: [alias/seeded]\n")
    pytester.makeini("[pytest]\nopenkms_seed = seed.yaml\n")
    pytester.makepyfile(test_kms=INNER_TESTS)
    result = run_inner(pytester, monkeypatch)
    result.assert_outcomes(passed=4)
    # Stopped at the end of the session: the process is gone and the port refuses.
    served = json.loads(probe.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(served["pid"], 0)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", served["port"]))
    # Its files were in the session's temporary directory (pytester's --basetemp).
    (log,) = pytester.path.glob("**/openkms.log")
    assert log.parent.parent.name.startswith("runpytest")
    assert f"listening on http://127.0.0.1:{served['port']}" in log.read_text()


def test_a_server_that_cannot_start_fails_the_tests_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".yaml", seed="keys:\n  - id: not-a-key-id\n")
    pytester.makepyfile(test_kms="def test_kms(kms_client):\n    kms_client.list_keys()\n")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess(
        "-p", "openkms.testing.pytest_plugin", "--openkms-seed", "seed.yaml"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*openkms serve did not start (exit status 6)*"])
    result.stdout.fnmatch_lines(["*seed.yaml:2: keys[[]0[]].id: not a key id*"])


def test_the_plugin_is_registered_for_pytest_and_starts_nothing_on_its_own() -> None:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    assert project["entry-points"]["pytest11"] == {"openkms": "openkms.testing.pytest_plugin"}
    from openkms.testing import pytest_plugin

    fixtures = [
        value
        for value in vars(pytest_plugin).values()
        if hasattr(value, "_fixture_function_marker") or hasattr(value, "_pytestfixturefunction")
    ]
    assert len(fixtures) == 5
    for fixture in fixtures:
        marker = (
            getattr(fixture, "_fixture_function_marker", None) or fixture._pytestfixturefunction
        )
        assert not marker.autouse
