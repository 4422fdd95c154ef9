"""A filter as text: the ``cohort.filter(...)`` call, and the app's ``?filter=`` URL parameter.

One format for both: the keyword arguments of :meth:`covidimg.Cohort.filter` written as Python
literals (``sex=['F'], icu=True, labs={'crp': (100.0, None)}``). :func:`filter_call` writes
the call, :func:`filter_query` the URL parameter (the same arguments, percent-encoded), and
:func:`parse_filter` / :func:`parse_filter_query` read them back into keyword arguments.

Filter text is untrusted (a link can come from anyone), so reading it runs nothing: the text
is parsed by :func:`ast.parse`, each keyword value is read by :func:`ast.literal_eval` (text,
numbers, ``True``/``False``/``None``, lists, tuples and dicts only), every keyword must be a
criterion of :meth:`~covidimg.Cohort.filter`, the values are checked by
:class:`~covidimg.cohort.Criteria`, and the text is bounded in length. Every problem is a
:class:`FilterTextError`: one line naming the bad key or value.

Examples
--------
>>> from covidimg.cohort import filter_call, parse_filter
>>> text = filter_call({"sex": ["F"], "age": (40.0, None)})
>>> text
"cohort.filter(sex=['F'], age=(40.0, None))"
>>> parse_filter(text)
{'sex': ['F'], 'age': (40.0, None)}
>>> parse_filter("cohort.filter(age=(70, 20))")
Traceback (most recent call last):
    ...
covidimg.cohort._share.FilterTextError: age=(70, 20): low is greater than high
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import parse_qs, quote

from covidimg.cohort._query import Criteria

__all__ = ["FILTER_PARAM", "MAX_FILTER_TEXT", "FilterTextError", "check_criteria",
           "filter_arguments", "filter_call", "filter_query", "parse_filter", "parse_filter_query"]

#: Name of the app's URL parameter holding a filter (``?filter=...``).
FILTER_PARAM = "filter"
#: Longest filter text read (characters); a URL's query string may be twice as long (its
#: percent-encoding).
MAX_FILTER_TEXT = 4000
#: The keywords of :meth:`covidimg.Cohort.filter`, in its order.
CRITERIA = tuple(f.name for f in fields(Criteria))


class FilterTextError(ValueError):
    """A filter text or URL parameter that is not a valid filter: one line, naming the bad key
    or value and what is allowed."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def filter_arguments(criteria: Mapping[str, Any]) -> str:
    """The keyword arguments of a ``cohort.filter(...)`` call selecting ``criteria``.

    Parameters
    ----------
    criteria
        Keyword arguments of :meth:`covidimg.Cohort.filter` (as
        :attr:`covidimg.widgets.CohortFilter.criteria` gives them); values are written with
        ``repr``, so text, numbers, booleans, ``None``, lists, tuples and dicts of them.

    Examples
    --------
    >>> from covidimg.cohort import filter_arguments
    >>> filter_arguments({"icu": True, "day": (0.0, 7.0)})
    'icu=True, day=(0.0, 7.0)'
    """
    parts = []
    for name, value in criteria.items():
        if name not in CRITERIA:
            raise FilterTextError(f"{name}={value!r}: not a criterion of Cohort.filter; "
                                  f"criteria are {list(CRITERIA)}")
        text = repr(_plain(value))
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise FilterTextError(f"{name}={value!r}: not writable as a literal value") from None
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def _plain(value: Any) -> Any:
    """Numpy scalars and other number types as Python's, so ``repr`` is a literal."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value


def filter_call(criteria: Mapping[str, Any], name: str = "cohort") -> str:
    """The ``cohort.filter(...)`` call selecting ``criteria``, as text.

    Evaluated on the cohort (or read back with :func:`parse_filter`) it selects the same rows.

    Examples
    --------
    >>> from covidimg.cohort import filter_call
    >>> filter_call({"modality": ["CT"]})
    "cohort.filter(modality=['CT'])"
    >>> filter_call({})
    'cohort.filter()'
    """
    return f"{name}.filter({filter_arguments(criteria)})"


def filter_query(criteria: Mapping[str, Any]) -> str:
    """The app's URL parameter selecting ``criteria``: ``filter=`` and the call's arguments,
    percent-encoded (empty text for no criteria).

    Examples
    --------
    >>> from covidimg.cohort import filter_query
    >>> filter_query({"sex": ["F"], "icu": True})
    'filter=sex=%5B%27F%27%5D,%20icu=True'
    """
    arguments = filter_arguments(criteria)
    return f"{FILTER_PARAM}={quote(arguments, safe='=,()')}" if arguments else ""


def parse_filter(text: str) -> dict[str, Any]:
    """Keyword arguments of :meth:`covidimg.Cohort.filter` from a filter text, checked.

    Parameters
    ----------
    text
        A call, ``cohort.filter(sex=['F'], icu=True)`` (any name before ``.filter``), or its
        arguments alone, ``sex=['F'], icu=True``. Nothing in it is run.

    Returns
    -------
    dict
        ``{criterion: value}``, in the text's order; ``cohort.filter(**result)`` selects the
        rows the text describes.

    Raises
    ------
    FilterTextError
        One line naming what is wrong: the text too long or not a call, a positional or
        ``**`` argument, an unknown criterion (with the allowed ones), a value that is not a
        literal, or a value :class:`~covidimg.cohort.Criteria` refuses.

    Examples
    --------
    >>> from covidimg.cohort import parse_filter
    >>> parse_filter("icu=True, labs={'crp': (100, None)}")
    {'icu': True, 'labs': {'crp': (100, None)}}
    >>> parse_filter("cohort.filter(shoe_size=42)")        # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    covidimg.cohort._share.FilterTextError: shoe_size=42: not a criterion of Cohort.filter; ...
    """
    if not isinstance(text, str):
        raise FilterTextError(f"filter text {type(text).__name__}: expected text such as "
                              "\"cohort.filter(sex=['F'])\"")
    text = text.strip()
    if len(text) > MAX_FILTER_TEXT:
        raise FilterTextError(f"filter text of {len(text):,} characters: longer than the "
                              f"{MAX_FILTER_TEXT:,} allowed")
    if not text:
        return {}
    call, source = _as_call(text)
    if call.args:
        raise FilterTextError(f"{_segment(source, call.args[0])}: positional argument; name "
                              "each criterion, e.g. sex=['F']")
    out: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise FilterTextError(f"**{_segment(source, keyword.value)}: name each criterion, "
                                  "e.g. sex=['F']")
        value = _segment(source, keyword.value)
        if keyword.arg in out:
            raise FilterTextError(f"{keyword.arg}={value}: {keyword.arg} is given twice; give "
                                  "each criterion once")
        if keyword.arg not in CRITERIA:
            raise FilterTextError(f"{keyword.arg}={value}: not a criterion of Cohort.filter; "
                                  f"criteria are {list(CRITERIA)}")
        try:
            out[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            raise FilterTextError(f"{keyword.arg}={value}: not a literal value; use text, "
                                  "numbers, True/False/None, lists, tuples and dicts") from None
    check_criteria(out)
    return out


def check_criteria(criteria: Mapping[str, Any]) -> None:
    """Raise :class:`FilterTextError` (one line) unless ``criteria`` are valid
    :class:`~covidimg.cohort.Criteria`."""
    try:
        Criteria(**criteria)
    except (TypeError, ValueError) as exc:
        raise FilterTextError(_one_line(exc)) from None


def _as_call(text: str) -> tuple[ast.Call, str]:
    """The call node of ``text`` (a ``<name>.filter(...)`` call, or bare arguments) and the
    source its positions refer to."""
    tree = None
    if text.endswith(")"):
        try:
            tree = ast.parse(text, mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
    if tree is not None and isinstance(tree.body, ast.Call):
        func = tree.body.func
        named = (isinstance(func, ast.Attribute) and func.attr == "filter"
                 and isinstance(func.value, ast.Name)) or (
            isinstance(func, ast.Name) and func.id == "filter")
        if not named:
            raise FilterTextError(f"{_segment(text, func)}(...): not a filter call; write "
                                  "cohort.filter(...) or the criteria alone")
        return tree.body, text
    source = f"filter({text}\n)"
    try:
        wrapped = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        where = f" at character {exc.offset}" if isinstance(exc, SyntaxError) and \
            exc.offset else ""
        raise FilterTextError(f"filter text {_clip(text)!r} is not a cohort.filter(...) call "
                              f"nor its keyword arguments{where}; e.g. sex=['F'], icu=True"
                              ) from None
    assert isinstance(wrapped.body, ast.Call)
    return wrapped.body, source


def _segment(source: str, node: ast.AST) -> str:
    return _clip(ast.get_source_segment(source, node) or ast.dump(node))


def _clip(text: str, limit: int = 80) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def parse_filter_query(query: str) -> dict[str, Any]:
    """Keyword arguments of :meth:`covidimg.Cohort.filter` from a URL's query string.

    Reads the ``filter`` parameter (:data:`FILTER_PARAM`) with :func:`parse_filter`; other
    parameters are left alone (they belong to the server); no ``filter`` parameter gives no
    criteria. A leading ``?`` or a whole URL is accepted.

    Raises
    ------
    FilterTextError
        The query string too long, the parameter given twice, or its text not a valid filter.

    Examples
    --------
    >>> from covidimg.cohort import parse_filter_query
    >>> parse_filter_query("filter=sex=%5B%27F%27%5D,%20icu=True&theme=dark")
    {'sex': ['F'], 'icu': True}
    >>> parse_filter_query("")
    {}
    """
    if not isinstance(query, str):
        raise FilterTextError(f"query string {type(query).__name__}: expected text")
    if len(query) > 3 * MAX_FILTER_TEXT:
        raise FilterTextError(f"URL query of {len(query):,} characters: longer than the "
                              f"{3 * MAX_FILTER_TEXT:,} allowed")
    if query.startswith("?"):
        query = query[1:]
    elif "://" in query or query.startswith("/"):   # a whole URL or a path
        query = query.split("#", 1)[0].partition("?")[2]
    try:
        values = parse_qs(query, keep_blank_values=True, max_num_fields=50).get(FILTER_PARAM, [])
    except ValueError as exc:
        raise FilterTextError(f"URL query: {_one_line(exc)}") from None
    if len(values) > 1:
        raise FilterTextError(f"URL parameter {FILTER_PARAM!r} given {len(values)} times; give "
                              "it once")
    return parse_filter(values[0]) if values else {}
