"""The real command-line tools behind the infrastructure tasks: the Pulumi CLI (preview, up,
destroy, outputs), each call bounded and its failures reported in one line.

May import `stacks` and `ops.errors`.
"""
