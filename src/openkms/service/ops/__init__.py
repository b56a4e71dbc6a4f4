"""Operation handlers, one module per family. Importing this package registers them."""

from openkms.service.ops import aliases, crypto, keys, policies, tags

__all__ = ["aliases", "crypto", "keys", "policies", "tags"]
