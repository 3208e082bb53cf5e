"""Errors whose messages are meant for the student using the app."""


class InputError(ValueError):
    """Bad input from a user: the message is shown as is, so it must be plain and helpful."""
