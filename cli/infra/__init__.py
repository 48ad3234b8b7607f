"""infra: preview, deploy and destroy a stack with the Pulumi CLI (stack); plan, diff and check it
offline (review); rehearse its containers here (rehearse); prepare a new project (bootstrap).

One namespace assembled from a module per concern, as `db`'s: a new concern is a module added here.
"""

from cli import edge
from cli.infra import bootstrap, rehearse, review, stack

ns = edge.namespace("infra", stack, review, rehearse, bootstrap)
