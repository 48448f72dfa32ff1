"""Ingestion benchmark (see bench/ingest)."""
