#!/usr/bin/env python3
"""CPU per cryptographic request on the event loop's path, in process.

Builds a server application (SQLite in a temporary data directory, root credentials, the
audit writer as a thread, quotas off) and answers SigV4-signed requests (signed once with
botocore, replayed) with :meth:`OpenKMSApp.answer_inline`: verify the signature, parse,
validate, resolve, authorize, the cryptography, capture the audit record, encode. Storing
the records and uvicorn's HTTP parsing are left out. Prints the median CPU µs per request
of this thread (``time.thread_time``, so other processes' load mostly falls outside) over
several rounds per operation; ``--profile`` prints a cProfile of one round of the first.

The request is replayed, so nothing in the server may cache by request or signature for
this figure to mean anything (it does not: caches are per key, credential, day, policy).
Usage::

    PYTHONPATH=src .venv/bin/python bench/request_cpu.py [Encrypt Decrypt ...]
        [--requests 5000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable

from quota_overhead import _scope, in_process_app

from openkms.server.app import OpenKMSApp

OPERATIONS = ("Encrypt", "Decrypt", "GenerateDataKey", "Sign")


def _requests(app: OpenKMSApp) -> dict[str, tuple[dict[str, object], bytes]]:
    """One signed request per operation: a symmetric key's, and an ECC_NIST_P256 key's Sign."""

    def call(target: str, params: dict[str, object]) -> dict[str, object]:
        body = json.dumps(params).encode()
        status, out, _ = app.handle(_scope(target, body), body, "bench-setup")
        assert status == 200, out
        answer: dict[str, object] = json.loads(out)
        return answer

    def key(params: dict[str, object]) -> str:
        metadata = call("CreateKey", params)["KeyMetadata"]
        assert isinstance(metadata, dict)
        return str(metadata["KeyId"])

    symmetric = key({})
    signing = key({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})
    plaintext = base64.b64encode(b"x" * 256).decode()
    context = {"purpose": "bench"}
    blob = call(
        "Encrypt", {"KeyId": symmetric, "Plaintext": plaintext, "EncryptionContext": context}
    )["CiphertextBlob"]
    params: dict[str, dict[str, object]] = {
        "Encrypt": {"KeyId": symmetric, "Plaintext": plaintext, "EncryptionContext": context},
        "Decrypt": {"CiphertextBlob": blob, "EncryptionContext": context},
        "GenerateDataKey": {"KeyId": symmetric, "KeySpec": "AES_256"},
        "Sign": {
            "KeyId": signing,
            "Message": base64.b64encode(b"m" * 32).decode(),
            "MessageType": "RAW",
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
    }
    out = {}
    for target, p in params.items():
        body = json.dumps(p).encode()
        out[target] = (_scope(target, body), body)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operations", nargs="*", default=list(OPERATIONS))
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        app = in_process_app(data_dir, quotas=False)
        requests = _requests(app)
        for target in args.operations:
            scope, body = requests[target]
            run = _runner(app, scope, body, args.requests)
            for _ in range(3):  # fill the caches (material, read cache, compiled policy)
                app.handle(scope, body, "bench-warm")
            run()
            rounds = sorted(run() for _ in range(args.rounds))
            print(
                f"{target:16} {statistics.median(rounds):7.2f} µs/request"
                f" (median of {len(rounds)}; {rounds[0]:.2f} .. {rounds[-1]:.2f})"
            )
        if args.profile:
            scope, body = requests[args.operations[0]]
            profile = cProfile.Profile()
            profile.enable()
            _runner(app, scope, body, args.requests)()
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(40)
        if app.runtime.audit is not None:
            app.runtime.audit.close()
        app.runtime.store.close()


def _runner(app: OpenKMSApp, scope: dict[str, object], body: bytes, n: int) -> Callable[[], float]:
    def run() -> float:
        """CPU µs per request of this thread."""
        started = time.thread_time()
        for _ in range(n):
            answer = app.answer_inline(scope, body, "bench-request")
            if answer is None:  # a read the cache did not hold: on a thread, as served
                answer = app.handle(scope, body, "bench-request")
            assert answer[0] == 200, answer[:2]
        return (time.thread_time() - started) / n * 1e6

    return run


if __name__ == "__main__":
    main()
