"""Authenticated callers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. Until IAM identities exist every caller is an account root."""

    account: str
    arn: str
    access_key_id: str

    @classmethod
    def root(cls, account: str, access_key_id: str) -> Principal:
        return cls(account=account, arn=f"arn:aws:iam::{account}:root", access_key_id=access_key_id)
