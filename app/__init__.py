"""The deployable service: settings, database layer, models and health endpoints (the Cloud Run image).

The bottom layer: it imports nothing of ops, cli, stacks or pgbouncer (contracts `layers`, `image`).
"""
