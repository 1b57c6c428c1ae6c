"""The errors a user sees as one line (and a non-zero exit) instead of a traceback.

Raised anywhere in the library; `ebgan_tf.cli.run` prints them. None of them carries a result:
whatever finished before one is raised stays on disk and a rerun resumes from it.
"""


class DataError(Exception):
    """A data set is missing, corrupt or unreachable."""


class UsageError(Exception):
    """A setting or flag value that is well-formed but makes no sense here."""


class RunError(Exception):
    """The runs cannot be executed as asked (e.g. no Ray cluster at the address)."""
