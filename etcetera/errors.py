"""Errors raised by etcetera. Every message is one line a user can act on."""

from __future__ import annotations


class EtcError(Exception):
    """Base class: the CLI prints these as `etc: error: <message>`."""


class ConfigError(EtcError):
    """A configuration file or Config value is invalid or missing."""


class DatasetError(EtcError):
    """A local dataset is missing, malformed, or would be overwritten."""


class InvalidNameError(EtcError):
    """A dataset or partition name breaks the naming rules."""


class PartitionNotFound(DatasetError, KeyError):
    """`ds[partition]` for a partition the dataset does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RemoteError(EtcError):
    """The remote failed or refused a request."""


class TransientError(RemoteError):
    """The remote kept failing in a way that may pass (throttling, 5xx, refused, reset or timed-out
    connections, cut-off bodies) for the whole `give_up_seconds` budget: trying later may work."""


class CutOffError(TransientError):
    """A response body broke off while it was being read.  The client libraries retry requests,
    not bodies half read, so the reader (the transfer engine) reads that range again."""


class NotFoundError(RemoteError):
    """A key, dataset or version does not exist on the remote."""


class ConflictError(RemoteError):
    """Someone else published meanwhile; the push was refused."""


class IntegrityError(RemoteError):
    """Downloaded bytes do not match their recorded hash."""


class FormatError(RemoteError):
    """A manifest or archive on the remote is invalid or hostile."""
