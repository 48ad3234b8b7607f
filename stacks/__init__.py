"""The Pulumi program (run by the engine from `__main__.py`) and the config it shares with ops."""
