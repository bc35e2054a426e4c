"""Reliability and security suite: crashes, faults, hostile input and secrets (docs/reliability.md)."""
