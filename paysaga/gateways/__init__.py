"""Adapters over the official gateway SDKs behind one Protocol, plus routing."""
