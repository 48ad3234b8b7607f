"""The task layer: one module per `invoke` namespace (arguments, help text, printing); `tasks.py`
at the root assembles them. The work itself lives in `ops/`.

Task modules do not import each other: what they share lives in `cli/edge.py` (contract `tasks`).
"""
