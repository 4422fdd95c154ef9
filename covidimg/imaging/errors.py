"""Errors raised when an image's pixels cannot be read."""

from __future__ import annotations

from covidimg.sources.base import LoadError

__all__ = ["ImageReadError", "MissingCodecError"]


class ImageReadError(LoadError):
    """One image file (or archive member, or series) cannot be turned into pixels.

    A subclass of :class:`covidimg.LoadError`, so ``except covidimg.LoadError`` catches it too.
    The message names the file and says what to do next; :attr:`path` and :attr:`reason` hold
    the two parts separately, for findings tables.

    Parameters
    ----------
    path
        The file, ``"archive.zip::member"`` or series folder that failed.
    reason
        What went wrong, with the offending value, and what to do next.

    Examples
    --------
    >>> from covidimg.imaging import ImageReadError
    >>> err = ImageReadError("/data/x.dcm", "no Pixel Data element")
    >>> str(err)
    'cannot read image /data/x.dcm: no Pixel Data element'
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Keep the two-argument constructor picklable (process pools send errors back).
        return (type(self), (self.path, self.reason))


class MissingCodecError(ImageReadError):
    """The pixel data is compressed with a transfer syntax no installed plugin can decode.

    :attr:`transfer_syntax` holds the transfer syntax UID; the message names it and the
    package extra (``covidimg[codecs]``) or tool that provides a decoder.

    Examples
    --------
    >>> from covidimg.imaging.errors import MissingCodecError
    >>> err = MissingCodecError("/data/x.dcm", "no decoder", "1.2.840.10008.1.2.4.80")
    >>> err.transfer_syntax
    '1.2.840.10008.1.2.4.80'
    """

    def __init__(self, path: str, reason: str, transfer_syntax: str = "") -> None:
        self.transfer_syntax = transfer_syntax
        super().__init__(path, reason)

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # type: ignore[override]
        return (type(self), (self.path, self.reason, self.transfer_syntax))
