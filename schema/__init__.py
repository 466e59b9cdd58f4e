"""The domain: tables, enums, the field catalogue, validation and OCDS mapping.

Imports nothing of `hub`, `indexer` or `exports`.
"""
