"""The producer's failures a user can act on; anything else is a bug and surfaces as one."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from whoever called the producer (an unknown interval or location id): retrying cannot help."""


class LakeUnreachable(RuntimeError):
    """The lake did not answer; the message names MONGO_URI (without credentials) and what to do."""
