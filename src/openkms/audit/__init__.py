"""Audit trail: CloudTrail-format records, hash chain, signed digests, verification,
export."""
