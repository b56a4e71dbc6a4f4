"""The pytest plugin of OpenKMS: a real KMS for the tests of code that uses AWS KMS.

Registered by ``pip install openkms`` (entry point ``pytest11``, name ``openkms``).
Nothing happens until a test asks for a fixture: no fixture is autouse, and the server
starts the first time one needs it, once per session (per worker with pytest-xdist).

========================  ========  ===================================================
fixture                   scope     what it is
========================  ========  ===================================================
``openkms_server``        session   :class:`~openkms.testing.server.OpenKMSServer`: a
                                    real ``openkms serve --dev`` on a free loopback
                                    port, files in a temporary directory, stopped at
                                    the end of the session
``openkms_endpoint``      session   its URL, ``http://127.0.0.1:<port>``
``kms_client``            session   a boto3 KMS client pointed at it
``openkms_reset``         function  wipes keys, aliases, grants and tags before the test
                                    (and applies the seed file again); make it autouse
                                    with ``pytestmark = pytest.mark.usefixtures(...)``
                                    or an autouse fixture of your own
``openkms_aws_env``       function  ``AWS_ENDPOINT_URL_KMS``, credentials and region in
                                    the environment for the test, so that code building
                                    its own clients (``boto3.client("kms")``) finds the
                                    server; restored afterwards
========================  ========  ===================================================

Settings (command line, or the ini file: ``pytest.ini``, ``[tool.pytest.ini_options]``):
``--openkms-seed FILE`` / ``openkms_seed`` (a seed file, relative to the ini file);
``openkms_storage`` (``memory``, the default, or ``sqlite`` in the temporary directory);
``openkms_serve_args`` (more ``openkms serve`` options).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openkms.testing.server import OpenKMSServer, OpenKMSStartError

#: Environment variables that would make an SDK sign as someone else, or ignore
#: ``AWS_ENDPOINT_URL_KMS`` (which wins over a global ``AWS_ENDPOINT_URL``, kept for the
#: other services a test may use).
_CLEARED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("openkms", "OpenKMS server for tests")
    group.addoption(
        "--openkms-seed",
        metavar="FILE",
        help="seed file applied when the OpenKMS server starts and at each reset "
        "(default: the ini setting openkms_seed)",
    )
    parser.addini("openkms_seed", "OpenKMS seed file (relative to the ini file)", type="paths")
    parser.addini("openkms_storage", "OpenKMS state: memory (default) or sqlite", default="memory")
    parser.addini("openkms_serve_args", "more 'openkms serve' options", type="args")


def _seed_file(config: pytest.Config) -> Path | None:
    given = config.getoption("openkms_seed")
    if given:
        return Path(given).absolute()
    paths: list[Path] = config.getini("openkms_seed")
    return paths[0] if paths else None


@pytest.fixture(scope="session")
def openkms_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenKMSServer]:
    """A real ``openkms serve --dev`` for the session; stopped at its end."""
    config = request.config
    try:
        server = OpenKMSServer.start(
            tmp_path_factory.mktemp("openkms"),
            seed=_seed_file(config),
            storage=config.getini("openkms_storage"),
            extra_args=config.getini("openkms_serve_args"),
        )
    except (OpenKMSStartError, ValueError) as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def openkms_endpoint(openkms_server: OpenKMSServer) -> str:
    """The server's URL."""
    return openkms_server.endpoint


@pytest.fixture(scope="session")
def kms_client(openkms_server: OpenKMSServer) -> Any:
    """A boto3 KMS client for the server (needs boto3)."""
    return openkms_server.client("kms")


@pytest.fixture
def openkms_reset(openkms_server: OpenKMSServer) -> OpenKMSServer:
    """The server, its keys wiped (and its seed applied again) before the test."""
    openkms_server.reset()
    return openkms_server


@pytest.fixture
def openkms_aws_env(
    openkms_server: OpenKMSServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment an AWS SDK reads, pointed at the server for this test."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    environment = openkms_server.environment()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment
