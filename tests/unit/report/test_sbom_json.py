"""`--format json` and the `renderer_for` dispatch.

Golden files live in tests/unit/report/golden/. After an intended change, regenerate them with
    .venv/bin/python -m tests.unit.report.regen
and review the diff.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from basewatch.models import Inventory, Package, PackageType
from basewatch.report.formats import SbomFormat, sbom_renderer
from basewatch.report.sbom.json import (
    SCHEMA_VERSION,
    JsonReporter,
    inventory_document,
    load_schema,
)
from tests.unit.report.regen import check_golden


def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def render(inventory: Inventory) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(JsonReporter().render(inventory))
    return document


@pytest.mark.parametrize("name", ["inventory.json", "inventory-minimal.json"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_output_validates_against_shipped_schema(
    inventory: Inventory, minimal_inventory: Inventory
) -> None:
    check = validator()
    for inv in (inventory, minimal_inventory):
        errors = [e.message for e in check.iter_errors(render(inv))]
        assert errors == []


def test_schema_is_shipped_with_the_package() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert sorted(schema["$defs"]["package"]["properties"]["type"]["enum"]) == sorted(
        t.value for t in PackageType
    )


def _drop_package_name(d: dict[str, Any]) -> None:
    del d["packages"][0]["name"]


def _bad_type(d: dict[str, Any]) -> None:
    d["packages"][0]["type"] = "cargo"


def _partial_without_warnings(d: dict[str, Any]) -> None:
    d["warnings"] = []


def _unknown_field(d: dict[str, Any]) -> None:
    d["image"]["size"] = 12


def _bad_digest(d: dict[str, Any]) -> None:
    d["image"]["layers"][0]["diff_id"] = "not a digest"


def _wrong_schema_version(d: dict[str, Any]) -> None:
    d["schema_version"] = "2.0"


def _os_as_string(d: dict[str, Any]) -> None:
    d["os"] = "debian"


@pytest.mark.parametrize(
    "breakage",
    [
        _drop_package_name,
        _bad_type,
        _partial_without_warnings,
        _unknown_field,
        _bad_digest,
        _wrong_schema_version,
        _os_as_string,
    ],
)
def test_broken_documents_do_not_validate(inventory: Inventory, breakage: Any) -> None:
    document = copy.deepcopy(render(inventory))
    breakage(document)
    assert list(validator().iter_errors(document)) != []


def test_document_shape(inventory: Inventory) -> None:
    document = render(inventory)
    assert list(document) == [
        "schema_version",
        "tool",
        "image",
        "os",
        "base",
        "packages",
        "warnings",
        "partial",
    ]
    assert document["tool"]["name"] == "basewatch"
    assert document["partial"] is True
    assert document["os"]["id"] == "debian"
    keys = [(p["type"], p["name"], p["version"], p["arch"]) for p in document["packages"]]
    assert keys == sorted(keys)
    assert len(document["packages"]) == len(inventory.packages)


def test_minimal_inventory_has_null_os(minimal_inventory: Inventory) -> None:
    document = render(minimal_inventory)
    assert document["os"] is None
    assert document["packages"] == []
    assert document["partial"] is False


def test_output_does_not_depend_on_input_order(inventory: Inventory) -> None:
    reversed_inventory = dataclasses.replace(inventory, packages=inventory.packages[::-1])
    assert JsonReporter().render(reversed_inventory) == JsonReporter().render(inventory)


def test_undecodable_names_do_not_break_the_report(minimal_inventory: Inventory) -> None:
    # A file name that was not UTF-8 reaches the models as a lone surrogate.
    package = Package(name="bad\udcffname", version="1", type=PackageType.DEB)
    inventory = dataclasses.replace(minimal_inventory, packages=(package,))
    document = render(inventory)
    assert document["packages"][0]["name"] == "bad\udcffname"


def test_inventory_document_is_json_ready(inventory: Inventory) -> None:
    assert json.loads(json.dumps(inventory_document(inventory))) == render(inventory)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_renderer_for_each_format(fmt: SbomFormat, inventory: Inventory) -> None:
    reporter = sbom_renderer(fmt)
    assert reporter.name == fmt.value
    assert reporter.media_type
    output = reporter.render(inventory)
    assert output.endswith(b"\n")
    output.decode("utf-8")


def test_json_and_table_do_not_import_sbom_libraries() -> None:
    # Start-up time of `basewatch sbom --format json` is a target; check in a fresh interpreter.
    code = (
        "import sys\n"
        "from basewatch.report.formats import SbomFormat, sbom_renderer\n"
        "from basewatch.models import ImageInfo, Inventory, SourceType\n"
        "inv = Inventory(ImageInfo('x', SourceType.DIR), os=None, packages=())\n"
        "for fmt in (SbomFormat.JSON, SbomFormat.TABLE):\n"
        "    sbom_renderer(fmt).render(inv)\n"
        "heavy = {'cyclonedx', 'rich', 'license_expression', 'packageurl', 'jsonschema'}\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
