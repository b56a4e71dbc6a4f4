"""The generated request and response TypedDicts (:mod:`openkms.wire.shapes`): current
with the installed botocore's KMS model, complete (one pair per model operation), and the
types every registered KMS handler is annotated with."""

from __future__ import annotations

import importlib.util
import typing
from pathlib import Path
from types import ModuleType

from openkms.service.kms.call import OperationCall
from openkms.service.kms.ops import REGISTRY
from openkms.wire import shapes
from openkms.wire.model import KMS_MODEL, operation_names

GENERATOR = Path(__file__).resolve().parents[2] / "scripts" / "gen_wire_shapes.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_wire_shapes", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shapes_module_is_current_with_the_installed_model() -> None:
    rendered = _generator().render()
    checked_in = Path(shapes.__file__).read_text(encoding="utf-8")
    assert rendered == checked_in, (
        "src/openkms/wire/shapes.py is stale: PYTHONPATH=src python scripts/gen_wire_shapes.py"
    )


def test_every_operation_has_a_request_and_a_response_type() -> None:
    for name in operation_names():
        for suffix in ("Request", "Response"):
            shape = getattr(shapes, name + suffix)
            assert typing.is_typeddict(shape), name + suffix


def test_required_members_follow_the_model() -> None:
    encrypt = KMS_MODEL.operation_model("Encrypt").input_shape
    assert shapes.EncryptRequest.__required_keys__ == frozenset(encrypt.required_members)
    assert shapes.EncryptRequest.__optional_keys__ == frozenset(encrypt.members) - frozenset(
        encrypt.required_members
    )
    assert shapes.EncryptResponse.__required_keys__ == frozenset()


def test_blobs_are_base64_text_in_requests_and_bytes_in_responses() -> None:
    request = typing.get_type_hints(shapes.EncryptRequest)
    response = typing.get_type_hints(shapes.EncryptResponse)
    assert request["Plaintext"] is str and response["CiphertextBlob"] is bytes
    assert typing.get_type_hints(shapes.EncryptRequest)["EncryptionContext"] == dict[str, str]
    assert typing.get_type_hints(shapes.CreateKeyRequest)["Tags"] == list[shapes.Tag]
    assert typing.get_type_hints(shapes.KeyMetadata)["CreationDate"] is float


def test_the_generator_check_mode_agrees() -> None:
    assert _generator().main(["--check"]) == 0


def test_every_kms_handler_is_typed_with_its_own_operations_shapes() -> None:
    for name, op in REGISTRY.items():
        hints = typing.get_type_hints(op.handler)
        (call,) = (hint for param, hint in hints.items() if param != "return")
        assert typing.get_origin(call) is OperationCall, name
        assert typing.get_args(call) == (getattr(shapes, name + "Request"),), name
        assert hints["return"] is getattr(shapes, name + "Response"), name


def test_prepare_hooks_take_their_operations_request() -> None:
    prepared = {name: op.prepare for name, op in REGISTRY.items() if op.prepare is not None}
    assert prepared  # CreateKey and GetParametersForImport make slow things first
    for name, prepare in prepared.items():
        hints = typing.get_type_hints(prepare)
        params = [hint for param, hint in hints.items() if param != "return"]
        assert params[-1] is getattr(shapes, name + "Request"), name
