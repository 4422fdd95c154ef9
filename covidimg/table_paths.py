"""How the tables spell a file, an archive member or a URL (``images.path``, ``files.path``,
``findings.path``, and messages).

A member of a zip archive is written ``archive.zip::member`` and a file on disk by its path.
For that to be unambiguous whatever the names, the two characters that could make it
ambiguous are escaped in each name (:func:`quote_name`): a ``:`` next to another ``:`` or at
either end of the name becomes ``%3A``, and a ``%`` that would read as one of the two escapes
(followed by ``25`` or ``3A``) becomes ``%25``. Every other name, the ordinary ones included
(Windows drive letters, ``s3://`` URLs, names with a lone ``%``), is written as it is. The first
``::`` of a written path is therefore always the member separator, and :func:`split_path`
undoes :func:`file_path` / :func:`member_path` exactly.

A zip that holds two members of the same name (a zip may) has its later copies written
``archive.zip::member::2``, ``::3``, ...: those copies are never read (the first one is, by every
reader), and :func:`split_path` reads them as the first.

:func:`redact_credentials` removes the ``user:password@`` part of a URL from any text, so that
no message or table ever carries a credential.

Examples
--------
>>> from covidimg.table_paths import member_path, split_path, file_path
>>> member_path("/data/x.zip", "series/1.dcm")
'/data/x.zip::series/1.dcm'
>>> file_path("/data/x.zip::y.dcm")      # a file on disk whose name holds '::'
'/data/x.zip%3A%3Ay.dcm'
>>> split_path("/data/x.zip%3A%3Ay.dcm"), split_path("/data/x.zip::series/1.dcm")
(('/data/x.zip::y.dcm', None), ('/data/x.zip', 'series/1.dcm'))
"""

from __future__ import annotations

import os
import re

__all__ = ["MEMBER_SEP", "file_path", "member_path", "quote_name", "redact_credentials",
           "split_path", "unquote_name"]

#: Between an archive and the member inside it.
MEMBER_SEP = "::"
_ESCAPE = {"%": "%25", ":": "%3A"}
_UNESCAPE = {"%25": "%", "%3A": ":"}
#: What :func:`quote_name` escapes (looked at in the name as given, before any escaping).
_NEEDS_ESCAPE = re.compile(r"%(?=25|3A)|:(?=:)|(?<=:):|^:|:$")
_ESCAPED = re.compile(r"%25|%3A")
#: ``scheme://user:password@`` (or ``user@``) at the start of a URL's authority.
_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def quote_name(name: str) -> str:
    """``name`` with ``::``, a ``:`` at either end and escape-like ``%`` escaped.

    Examples
    --------
    >>> from covidimg.table_paths import quote_name, unquote_name
    >>> quote_name("C:\\\\scans\\\\50%.dcm"), quote_name("a::b"), quote_name("%3A")
    ('C:\\\\scans\\\\50%.dcm', 'a%3A%3Ab', '%253A')
    >>> unquote_name(quote_name("x:%3A::%25:"))
    'x:%3A::%25:'
    """
    if "%" not in name and ":" not in name:
        return name
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPE[m.group()], name)


def unquote_name(text: str) -> str:
    """The name :func:`quote_name` escaped."""
    if "%" not in text:
        return text
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group()], text)


def file_path(path: str | os.PathLike[str]) -> str:
    """How the tables write the file ``path`` (unchanged for any ordinary name)."""
    return quote_name(os.fspath(path))


def member_path(archive: str | os.PathLike[str], member: str, copy: int = 1) -> str:
    """How the tables write ``member`` of the zip ``archive`` (``copy`` > 1: the ``copy``-th
    member of that name, a duplicate that is never read)."""
    path = f"{quote_name(os.fspath(archive))}{MEMBER_SEP}{quote_name(member)}"
    return path if copy == 1 else f"{path}{MEMBER_SEP}{copy}"


def split_path(path: str) -> tuple[str, str | None]:
    """``(file on disk, member or None)`` of a path as the tables write it."""
    head, sep, tail = path.partition(MEMBER_SEP)
    if not sep:
        return unquote_name(path), None
    member = tail.partition(MEMBER_SEP)[0]  # a duplicate's copy number reads as the first
    return unquote_name(head), unquote_name(member)


def redact_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``.

    Examples
    --------
    >>> from covidimg.table_paths import redact_credentials
    >>> redact_credentials("cannot list s3://AKIA:s3cr3t@bucket/prefix")
    'cannot list s3://***@bucket/prefix'
    """
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)
