"""The IAM and STS APIs: users, roles, access keys, inline policies, role sessions."""
