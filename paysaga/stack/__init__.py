"""Embedded services (PostgreSQL, Temporal dev server) and process supervision."""
