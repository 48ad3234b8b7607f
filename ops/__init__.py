"""The operations library behind the invoke tasks (also shipped in the image for the migration job)."""
