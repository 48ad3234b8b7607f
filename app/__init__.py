"""The deployable service: settings, database layer, models and health endpoints (the Cloud Run image)."""
