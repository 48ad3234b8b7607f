"""The offline plan: a stack's program run under Pulumi mocks from its config alone (no cloud, no
CLI), recorded as resources with their inputs; its values, tree and diff against a base revision;
and the policies every plan must pass (also run by the pulumi-policy pack in `policy/`).

Its imports: contracts `ops-wings` and `plan-offline` (it runs offline: nothing of `ops.cloud`).
"""
