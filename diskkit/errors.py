"""One exception hierarchy, so the CLI can turn every expected failure into one line."""


class DiskkitError(Exception):
    """Base of every error diskkit raises on purpose (bad input, bad image, I/O)."""

    exit_code = 2


class UsageError(DiskkitError):
    """The request itself is wrong: bad size, bad option combination, missing argument."""


class CorruptImage(DiskkitError):
    """An on-disk structure is inconsistent: bad checksum, truncated file, out-of-range pointer."""


class Unsupported(DiskkitError):
    """A valid image or request diskkit does not handle (yet)."""


class NotFound(DiskkitError):
    """A file, partition or path inside an image does not exist."""


class AlreadyExists(DiskkitError):
    """The target exists and overwriting it was not asked for."""


class NoSpace(DiskkitError):
    """The image, partition, filesystem or host disk is full."""


class ImageIOError(DiskkitError):
    """The host operating system refused a read or write."""
