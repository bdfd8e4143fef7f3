"""Errors of the local stack that a user can act on: the message says what and how."""


class StackError(RuntimeError):
    """Something the user can act on: the message says what and how."""
