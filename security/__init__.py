"""Payload encryption, field encryption at rest, and log redaction."""
