"""Encrypt with a key whose backing key lives in an HSM (an AWS_CLOUDHSM custom key store
over SoftHSM2, issue 16 part 2) vs a software key, side by side.

    .venv/bin/python bench/hsm_keys.py [--seconds 10] [--clients 4] [--size 64]

Two measurements, each on both keys:

* in process: one 32-byte-key symmetric blob sealed per call, the software way
  (``openkms.crypto.symmetric.encrypt``: HKDF and AES-GCM in pyca/cryptography) and
  inside the token (``openkms.crypto.hsm_keys.seal``: AES-GCM through PKCS#11 under the
  process-wide library lock); single thread, calls per second;
* through a server: ``openkms serve`` on a throwaway SQLite data directory (software
  root key), its SoftHSM2 token registered as a cluster, a CloudHSM key store created and
  connected through the API; ``--clients`` threads, each with its own boto3 client, call
  Encrypt with a ``--size``-byte plaintext for ``--seconds`` per key; requests per second
  and mean latency.

Needs Debian's ``softhsm2`` and the ``[hsm]`` extra. The server side is bounded by the
HTTP path (SigV4, JSON, the audit record) on a shared machine; the in-process numbers
isolate the cryptography.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "support"))

import boto3
from botocore.config import Config
from servers import free_port, wait_http
from softhsm import SoftHSM

ACCOUNT = "111122223333"
ACCESS_KEY, SECRET_KEY = "AKIAOPENKMSBENCHROOT", "openkms-bench-secret-key-0123456789abcdef"
PIN = "12345678"
CLUSTER = "cluster-openkmsbench"


def per_second(seconds: float, call: Callable[[], None]) -> float:
    done, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        call()
        done += 1
    return done / elapsed


def in_process(hsm: SoftHSM, seconds: float, size: int) -> list[tuple[str, float]]:
    from openkms.crypto import hsm_keys, symmetric

    plaintext, key_id = os.urandom(size), str(uuid.uuid4())
    backing = symmetric.new_backing_key()
    token = hsm_keys.HSMKeyToken(hsm.module, "bench-inproc", PIN)
    try:
        token.generate_key(f"{key_id}/1")
        software = per_second(
            seconds, lambda: symmetric.encrypt(backing, key_id, 1, plaintext, {"a": "b"})
        )
        inside = per_second(
            seconds,
            lambda: hsm_keys.seal(token, f"{key_id}/1", key_id, 1, plaintext, {"a": "b"}),
        )
    finally:
        token.close()
    return [("software key", software), ("HSM-resident key", inside)]


def client(endpoint: str) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def certificate() -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load(
    endpoint: str, key_id: str, clients: int, seconds: float, size: int
) -> tuple[float, float]:
    """Requests per second and mean latency (ms) of Encrypt on ``key_id``."""
    counts, latencies = [0] * clients, [0.0] * clients
    plaintext = os.urandom(size)
    stop = time.perf_counter() + seconds

    def work(n: int) -> None:
        kms = client(endpoint)
        kms.encrypt(KeyId=key_id, Plaintext=plaintext)  # connection set up
        while time.perf_counter() < stop:
            began = time.perf_counter()
            kms.encrypt(KeyId=key_id, Plaintext=plaintext)
            latencies[n] += time.perf_counter() - began
            counts[n] += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(counts)
    return total / (time.perf_counter() - began), sum(latencies) / max(total, 1) * 1e3


def through_server(
    hsm: SoftHSM, data_dir: str, seconds: float, clients: int, size: int
) -> list[tuple[str, float, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    env.update({"SOFTHSM2_CONF": hsm.conf, "OPENKMS_ROOT_ACCESS_KEY_ID": ACCESS_KEY})
    env["OPENKMS_ROOT_SECRET_ACCESS_KEY"] = SECRET_KEY
    where = ["--data-dir", data_dir]
    subprocess.run(
        [sys.executable, "-m", "openkms", "admin", "create-account", ACCOUNT, *where],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "openkms", "admin", "hsm-cluster", "add", "--id", CLUSTER,
         "--module", hsm.module, "--token", "bench-server", *where],
        env=env,
        check=True,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openkms", "serve", "--port", str(port), "--account-id",
         ACCOUNT, "--request-threads", str(clients), *where],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint + "/_openkms/health", proc)
        kms = client(endpoint)
        store_id = kms.create_custom_key_store(
            CustomKeyStoreName="bench",
            CloudHsmClusterId=CLUSTER,
            TrustAnchorCertificate=certificate(),
            KeyStorePassword=PIN,
        )["CustomKeyStoreId"]
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        software = kms.create_key()["KeyMetadata"]["KeyId"]
        inside = kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=store_id)["KeyMetadata"][
            "KeyId"
        ]
        return [
            ("software key", *load(endpoint, software, clients, seconds, size)),
            ("HSM-resident key", *load(endpoint, inside, clients, seconds, size)),
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per key and measurement")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--size", type=int, default=64, help="plaintext bytes")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hsm = SoftHSM.create(os.path.join(tmp, "softhsm"))
        for token in ("bench-inproc", "bench-server"):
            hsm.init_token(token, PIN)
        os.environ["SOFTHSM2_CONF"] = hsm.conf
        data_dir = os.path.join(tmp, "data")
        os.mkdir(data_dir, 0o700)
        local = in_process(hsm, options.seconds, options.size)
        served = through_server(hsm, data_dir, options.seconds, options.clients, options.size)
    print(f"Encrypt, {options.size}-byte plaintext, {options.seconds:g} s per key")
    print(f"{'in process (1 thread)':<24} {'calls/s':>10}")
    for name, rate in local:
        print(f"{name:<24} {rate:>10.0f}")
    print(f"{f'server ({options.clients} clients)':<24} {'requests/s':>10} {'mean latency':>14}")
    for name, rate, latency in served:
        print(f"{name:<24} {rate:>10.0f} {latency:>11.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
