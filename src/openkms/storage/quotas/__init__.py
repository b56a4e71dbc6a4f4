"""Request quota overrides (``openkms admin quota set``) and the counts resource quotas read."""
