"""The cloud stacks' components (Cloud SQL + Cloud Run on Google Cloud), one per concern."""
