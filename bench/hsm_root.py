"""What an HSM root of trust costs (issue 16, part 1): start-up and cache-miss unwrap,
software root key vs a PKCS#11 key in SoftHSM2, side by side.

    .venv/bin/python bench/hsm_root.py [--unwraps 2000] [--starts 3]

Measures, in this process and on a throwaway SQLite data directory and SoftHSM2 token:

* ``open_state``: opening the database and the keyring as every server process does at
  start (the HSM side: loading the module, logging in, finding the key, unsealing the
  fingerprint key and the check value); best of ``--starts`` after the first;
* a server start: ``openkms serve`` spawned until ``/_openkms/health`` answers (its audit
  writer process opens the keyring too), best of ``--starts``;
* a cache-miss unwrap: ``keyring.unwrap`` of a 32-byte backing key, what a request pays
  once per key version per process before the material cache has it; mean of
  ``--unwraps`` calls.

Quick (a few seconds); needs Debian's ``softhsm2`` and the ``[hsm]`` extra.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "support"))

from servers import free_port, wait_http
from softhsm import SoftHSM

from openkms.crypto import contexts


def best(n: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def server_start(args: list[str], env: dict[str, str]) -> float:
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openkms", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_openkms/health", proc)
        return time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unwraps", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=3)
    options = parser.parse_args()
    from openkms.server import bootstrap

    with tempfile.TemporaryDirectory() as tmp:
        hsm = SoftHSM.create(os.path.join(tmp, "softhsm"))
        hsm.init_token("bench")
        os.environ.update(hsm.env())
        os.environ["OPENKMS_ROOT_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        software = bootstrap.Settings(os.path.join(tmp, "sw"), None, "111122223333")
        pkcs11 = bootstrap.Settings(
            os.path.join(tmp, "hsm"),
            None,
            "111122223333",
            root_of_trust="pkcs11",
            pkcs11_module=hsm.module,
            pkcs11_token="bench",
            pkcs11_key="root",
        )
        rows = []
        for name, settings, args in (
            ("software", software, []),
            ("pkcs11 (SoftHSM2)", pkcs11, hsm.args("bench", "root")),
        ):
            store, keyring = bootstrap.open_state(settings)  # first start: makes state
            store.close()

            def reopen(settings: bootstrap.Settings = settings) -> None:
                store, _ = bootstrap.open_state(settings, create=False)
                store.close()

            opened = best(options.starts, reopen)
            serve_args = ["--data-dir", settings.data_dir or "", *args]
            started = min(server_start(serve_args, dict(os.environ)) for _ in range(options.starts))
            context = contexts.key_material("bench-key", 1)
            wrapped = keyring.wrap(os.urandom(32), context)
            began = time.perf_counter()
            for _ in range(options.unwraps):
                keyring.unwrap(wrapped, context)
            unwrap_us = (time.perf_counter() - began) / options.unwraps * 1e6
            rows.append((name, opened * 1e3, started, unwrap_us))
        print(f"{'root of trust':<20} {'open_state':>12} {'server start':>14} {'unwrap':>12}")
        for name, opened_ms, started_s, unwrap_us in rows:
            print(f"{name:<20} {opened_ms:>9.1f} ms {started_s:>12.2f} s {unwrap_us:>9.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
