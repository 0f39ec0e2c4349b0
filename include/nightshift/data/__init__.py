"""Data: storage, the lake's atomic days, sources, ingest, GX validation, release."""
