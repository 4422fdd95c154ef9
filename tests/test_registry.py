"""The registry is the one list of sources, and every loader module follows the loader protocol."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import covidimg
from covidimg import registry, schema
from covidimg.cli import build_parser
from covidimg.demo import available_sources
from covidimg.registry import SOURCE_NAMES
from covidimg.sources import SourceLoader, check_options, loader, loader_options, loaders

PACKAGE = Path(covidimg.__file__).parent

#: What each loader documents as its options (its ``load`` docstring and ``covidimg.load``'s).
DOCUMENTED_OPTIONS = {
    "mhh": ("convention",),
    "nccid": ("site_units", "storage_options", "as_of"),
    "crdw": (),
    "midrc": (),
    "tcia": (),
    "idc": ("clinical",),
}


def test_every_list_of_sources_is_the_registry() -> None:
    assert SOURCE_NAMES == tuple(DOCUMENTED_OPTIONS)
    assert schema.SOURCES == SOURCE_NAMES
    assert tuple(loaders()) == SOURCE_NAMES
    # every source read from folders has a demo writer; IDC's roots are collection ids
    assert available_sources() == tuple(n for n in SOURCE_NAMES
                                        if not hasattr(loader(n), "root_of"))
    for column in ("patients", "images", "files", "findings"):
        assert schema.TABLES[column].column("source").allowed == SOURCE_NAMES


def _source_lists(tree: ast.AST) -> list[int]:
    """Line numbers of tuple/list/set/dict literals naming three or more registered sources."""
    found = []
    for node in ast.walk(tree):
        items = node.keys if isinstance(node, ast.Dict) else \
            node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else []
        names = {item.value for item in items
                 if isinstance(item, ast.Constant) and item.value in SOURCE_NAMES}
        if len(names) >= 3:
            found.append(node.lineno)
    return found


def test_no_second_list_of_sources_in_the_package() -> None:
    spelled = {str(path.relative_to(PACKAGE)): lines for path in sorted(PACKAGE.rglob("*.py"))
               if path.name != "registry.py"
               and (lines := _source_lists(ast.parse(path.read_text())))}
    assert not spelled, f"derive these from covidimg.registry: {spelled}"


def test_registry_is_a_bottom_layer_of_plain_data() -> None:
    tree = ast.parse((PACKAGE / "registry.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses"}, imported


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_each_loader_module_satisfies_the_protocol(name: str) -> None:
    module = loader(name)
    assert module.__name__ == registry.SOURCES[name].module
    assert isinstance(module, SourceLoader)
    assert module.NAME == name
    assert isinstance(module.LOOKS_FOR, str) and module.LOOKS_FOR.strip()
    assert registry.SOURCES[name].title and registry.SOURCES[name].description

    detect = inspect.signature(module.detect)
    first, *rest = detect.parameters.values()
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.default is not inspect.Parameter.empty for p in rest)

    load = inspect.signature(module.load)
    root, *keywords = load.parameters.values()
    assert root.name == "root" and root.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert keywords[0].name == "progress" and keywords[0].default is False
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not
               inspect.Parameter.empty for p in keywords), load
    # the function callers get takes **options, checked by rejects_unknown_options
    outer = inspect.signature(module.load, follow_wrapped=False).parameters
    assert outer["progress"].kind is inspect.Parameter.KEYWORD_ONLY
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in outer.values())


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_each_loader_documents_its_options(name: str) -> None:
    assert loader_options(name) == DOCUMENTED_OPTIONS[name]
    doc = inspect.getdoc(loader(name).load) or ""
    for option in DOCUMENTED_OPTIONS[name]:
        assert f"\n{option}\n" in doc, f"{name}.load does not document {option}"
    load_doc = inspect.getdoc(covidimg.load) or ""
    for option in DOCUMENTED_OPTIONS[name]:
        assert f"``{option}``" in load_doc, f"covidimg.load does not document {name}'s {option}"


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_a_loader_refuses_an_unknown_option_before_reading(name: str, tmp_path: Path) -> None:
    allowed = list(DOCUMENTED_OPTIONS[name])
    with pytest.raises(ValueError) as err:
        loader(name).load(tmp_path / "not-read", rounding="round")
    message = str(err.value)
    assert "'rounding'" in message and repr(name) in message
    assert (str(allowed) in message) if allowed else "takes no options" in message


def test_check_options_names_an_unknown_option() -> None:
    with pytest.raises(ValueError, match=r"option='a' is not allowed; allowed values are \[\]\. "
                                         r"The 'crdw' loader takes no options"):
        check_options("crdw", {"a": 1, "b": 2}, [])
    check_options("mhh", {}, ["convention"])


def test_an_unknown_source_names_the_sources() -> None:
    with pytest.raises(ValueError, match=r"unknown source 'acme'; the sources are \['mhh', "
                                         r"'nccid', 'crdw', 'midrc', 'tcia', 'idc'\]"):
        loader("acme")


def test_the_command_line_help_lists_every_source() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    index_help = actions[0].choices["index"].format_help()
    for entry in registry.SOURCES.values():
        assert entry.name in index_help and entry.title in index_help
