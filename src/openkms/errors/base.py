"""The root of every AWS-facing error (see the tree in :mod:`openkms.errors`)."""

from __future__ import annotations


class AWSError(Exception):
    """An error the caller sees as ``{"__type": <type_name>, "message": ...}``.

    The wire layer renders ``type_name`` (the class name unless a subclass says
    otherwise), ``status`` and ``message``; ``sender_fault`` says whether AWS blames
    the caller (4xx) or itself (5xx). An empty ``message`` is an error AWS answers
    without text: its body has no ``message`` member (``{"__type": ...}``).
    """

    status: int = 400
    sender_fault: bool = True

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    @property
    def type_name(self) -> str:
        return type(self).__name__
