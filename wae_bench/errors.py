"""The exceptions the CLI turns into a one-line message: ``UsageError`` (exit status 2) and
``Diverged`` (exit status 1)."""


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""


class Diverged(Exception):
    """A run's loss became NaN or infinite; the message names the run and the epoch."""
