"""The real command-line tools behind the infrastructure and cloud database tasks: the Pulumi CLI
(preview, up, destroy, outputs) and gcloud (the stack's migration job: execute it, read its logs),
each call bounded and its failures reported in one line.

May import `app` (the masker), `stacks`, `ops.errors` and `ops.migrate` (the job's result contract).
"""
