"""The package version, and who is writing: the stamp version roots and tag events carry.  In a module
of its own so that any module can import it without a cycle."""

import os

__version__ = "0.1.0"


def author() -> str:
    """`user@host` of this process, recorded as the author of a version or a tag move."""
    try:
        import getpass  # only writers need it

        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{os.uname().nodename}"
