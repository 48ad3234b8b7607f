"""The Pulumi program (run by the engine from `__main__.py`) and the config it shares with ops.

Pure declaration: it imports nothing of ops or cli (contract `layers`).
"""
