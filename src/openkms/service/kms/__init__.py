"""The KMS API's service layer, the sibling of :mod:`openkms.service.identity`: the
dispatcher (:mod:`.dispatch`), the operation registry, key resolution, key-policy and
grant authorization, the material cache and the handlers (:mod:`.ops`, one module per
family of operations)."""
