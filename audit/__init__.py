"""Audit: an append-only log of security-relevant actions.

Rows are written only through audit.services.record(), in the same transaction as the change they
describe. On PostgreSQL the table refuses UPDATE, DELETE and TRUNCATE (see migration 0002) except the
archive job's DELETE.
"""
