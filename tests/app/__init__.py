"""Tests of the app package: settings, database layer, health endpoints, smoke checks."""
