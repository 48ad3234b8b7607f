"""The real command-line tools behind the infrastructure and cloud database tasks: the Pulumi CLI
(preview, up, destroy, outputs) and gcloud (the stack's migration job: execute it, read its logs),
each call bounded and its failures reported in one line.

Its imports: contract `ops-wings` (below `ops.local`, whose Docker runtime drives the Pulumi CLI;
above `ops.migrate`, for the job's result contract).
"""
