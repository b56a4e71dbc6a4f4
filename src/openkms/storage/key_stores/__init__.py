"""Custom key store records: the registered HSM clusters and the key stores."""
