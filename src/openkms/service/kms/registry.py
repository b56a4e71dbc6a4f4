"""The operation registry: for every KMS operation, its IAM action, the keys it acts on,
whether it writes, and its handler.

Handlers never authorize: :mod:`openkms.service.kms.dispatch` resolves the keys named
here, authorizes the declared action on each and only then calls the handler.

Each handler module declares its operations with :func:`operation` and lists them in its
``OPERATIONS``; :mod:`openkms.service.kms.ops` builds the registry from those lists
(:func:`registry_of`), so what the server serves is written in one place and importing
a module changes nothing.

Each handler is typed with its operation's generated request and response
(:mod:`openkms.wire.shapes`); the registry holds them all, so it erases those types to
:data:`Handler` (tests/wire/test_shapes.py checks every registered handler's annotations
name its own operation's shapes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from openkms.crypto.importing import WrappingKeyStock
from openkms.domain.keys import Key
from openkms.errors import ValidationException

if TYPE_CHECKING:
    from openkms.crypto.keyring import Keyring
    from openkms.service.context import RequestContext
    from openkms.service.kms.call import OperationCall
    from openkms.storage.repository import Store

#: Any operation's handler, its request and response types erased: the dispatcher calls it
#: with the validated parameters, whichever operation it is.
Handler = Callable[["OperationCall[Any]"], Mapping[str, object]]
#: What one operation's handler is given (its ``...Request``) and returns (``...Response``).
Request = TypeVar("Request")
Response = TypeVar("Response", bound=Mapping[str, object])
#: Condition keys an operation adds to its request context once all its keys are found,
#: before any is authorized (ReEncrypt: ``kms:ReEncryptOnSameKey``); given the keys in
#: the order the operation declares them.
ConditionKeys = Callable[[Sequence[Key]], Mapping[str, object]]
#: Slow work done before the operation's transaction opens (its result is
#: ``OperationCall.prepared``): an SQLite write transaction holds the database's one write lock,
#: which RSA key generation (0.1-2 s) must not keep from every other writer. It is given
#: the request's parameters and the stock of ready-made wrapping key pairs.
Prepare = Callable[[WrappingKeyStock, Request], object]
#: Work AWS does on its own before the request is served, committed in a transaction of
#: its own before the request's opens (DescribeKey of a predefined alias creates the AWS
#: managed key behind it): given the store, the keyring, the request's context and its
#: parameters. It must be cheap when there is nothing to do (it runs on every request of
#: its operation, on the event loop too, where a write transaction raises Offload).
Materialize = Callable[["Store", "Keyring", "RequestContext", Mapping[str, object]], None]
#: Actions the caller's IAM policies must allow in another Region, as (action, Region)
#: pairs drawn from the request: ReplicateKey needs ``kms:CreateKey`` (and, with Tags,
#: ``kms:TagResource``) in the replica Region.
RegionalActions = Callable[[Mapping[str, object]], Sequence[tuple[str, str]]]


class _FromCiphertext:
    """Marker: the key is the one named inside ``CiphertextBlob``."""

    def __repr__(self) -> str:
        return "FROM_CIPHERTEXT"


#: A key source returns this when the dispatcher must read the key id from the blob's
#: header, so that Decrypt and ReEncrypt are authorized on the key that will be used.
FROM_CIPHERTEXT = _FromCiphertext()

#: Pulls the key identifier a request names out of its parameters (None: not named).
KeySource = Callable[[Mapping[str, object]], "str | _FromCiphertext | None"]


def param(name: str) -> KeySource:
    def source(params: Mapping[str, object]) -> str | None:
        value = params.get(name)
        return value if isinstance(value, str) else None

    source.__name__ = f"param_{name}"
    return source


@dataclass(frozen=True, slots=True)
class KeyArg:
    """A key the operation acts on, and the action the caller needs on it."""

    action: str
    source: KeySource
    required: bool = True
    #: Alias names and alias ARNs are accepted (AWS allows them for cryptographic
    #: operations and DescribeKey; management operations want a key id or key ARN).
    allow_alias: bool = False
    #: The key is the one in the Region this request parameter names, found and
    #: authorized there (UpdatePrimaryRegion: the replica that becomes the primary).
    region_param: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    handler: Handler
    keys: tuple[KeyArg, ...] = ()
    writes: bool = False
    dry_run: bool = False  # DryRun parameter honoured
    #: Operations on no key are authorized by IAM alone; the rare ones whose handler
    #: decides by other rules (RetireGrant: the grant names who may retire it) opt out.
    account_check: bool = True
    #: Reads see one consistent state (answers built from a key and its material rows).
    snapshot: bool = False
    prepare: Prepare[Any] | None = None
    #: May spend a second or more of CPU (RSA key generation): the server answers it on
    #: threads of its own, so that a burst of them never queues the other requests.
    slow: bool = False
    condition_keys: ConditionKeys | None = None
    materialize: Materialize | None = None
    regional_actions: RegionalActions | None = None

    @property
    def action(self) -> str:
        return "kms:" + self.name

    @property
    def inline(self) -> bool:
        """May be answered on the server's event loop when what it reads is cached (it
        changes nothing and prepares nothing; the dispatcher still sends requests on
        keys whose cryptography is slow to a thread)."""
        return not (self.writes or self.slow or self.snapshot or self.prepare is not None)


def ciphertext_or(name: str, algorithm_param: str) -> KeySource:
    """Symmetric ciphertexts name their key; asymmetric (RSA) ones do not, so for any
    other algorithm the key is the one the request names in ``name``."""

    def source(params: Mapping[str, object]) -> str | _FromCiphertext | None:
        if params.get(algorithm_param, "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT":
            return FROM_CIPHERTEXT
        value = params.get(name)
        if not isinstance(value, str):
            raise ValidationException(
                f"{name} is required when {algorithm_param} is not SYMMETRIC_DEFAULT."
            )
        return value

    return source


def operation(
    name: str,
    *,
    keys: tuple[KeyArg, ...] | None = None,
    writes: bool = False,
    dry_run: bool = False,
    allow_alias: bool = False,
    account_check: bool = True,
    snapshot: bool = False,
    prepare: Prepare[Request] | None = None,
    slow: bool = False,
    condition_keys: ConditionKeys | None = None,
    materialize: Materialize | None = None,
    regional_actions: RegionalActions | None = None,
) -> Callable[[Callable[[OperationCall[Request]], Response]], Operation]:
    """Declare an operation served by the decorated handler (registered only when its
    module's ``OPERATIONS`` is given to :func:`registry_of`). By default the operation
    acts on the key named by ``KeyId``."""

    def declare(handler: Callable[[OperationCall[Request]], Response]) -> Operation:
        default = (KeyArg("kms:" + name, param("KeyId"), allow_alias=allow_alias),)
        key_args = keys if keys is not None else default
        return Operation(
            name,
            handler,
            key_args,
            writes,
            dry_run,
            account_check,
            snapshot,
            prepare,
            slow,
            condition_keys,
            materialize,
            regional_actions,
        )

    return declare


def registry_of(*families: Iterable[Operation]) -> dict[str, Operation]:
    """The operations of every family (one handler module's ``OPERATIONS`` each), by name."""
    registry: dict[str, Operation] = {}
    for family in families:
        for op in family:
            if op.name in registry:
                raise RuntimeError(f"operation {op.name} registered twice")
            registry[op.name] = op
    return registry
