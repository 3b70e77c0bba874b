"""Errors whose message is one line for the user (the CLI prints it and exits 2, no traceback)."""


class UserFacingError(Exception):
    """Base: bad input or an unavailable resource, explained in one line that says what to do instead."""


class DataUnavailable(UserFacingError):
    """A requested data source cannot be had."""


class FolderLayoutError(DataUnavailable):
    """A folder is not a usable class-folder tree; the message names the folder."""


class WeightsUnavailable(UserFacingError):
    """Pretrained weights cannot be had (no network, missing file)."""


class InvalidValue(UserFacingError, ValueError):
    """A name or value the caller passed is not one that exists or parses (also a ValueError, for library code)."""
