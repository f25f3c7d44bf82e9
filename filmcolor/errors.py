"""The one exception type whose message is meant for the user.

``filmcolor.cli`` catches :class:`UserError` in one place and prints its message as one line
with a non-zero exit code. Anything else that escapes is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem the user can fix: a missing file, a bad option, unusable input."""
