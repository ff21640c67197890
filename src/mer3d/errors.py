"""Errors meant for the person at the keyboard, not for a developer."""


class UserError(Exception):
    """A mistake in the user's input (file, row, field, option).

    The CLI prints its message on one line to stderr and exits non-zero, without a traceback.
    Messages name the file, row or field at fault.
    """
