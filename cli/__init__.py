"""The task layer: one module per `invoke` namespace (arguments, help text, printing); `tasks.py`
at the root assembles them. The work itself lives in `ops/`."""
