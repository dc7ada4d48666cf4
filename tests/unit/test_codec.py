from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from basewatch.advice.advise import Advice, Recommendation, RecommendationKind
from basewatch.advice.codec import ADVICE_SCHEMA, decode_advice, encode_advice
from basewatch.advice.compare import Coverage
from basewatch.codec import (
    INVENTORY_SCHEMA,
    decode_finding,
    decode_inventory,
    decode_package,
    decode_scan_result,
    encode_finding,
    encode_inventory,
    encode_package,
    encode_scan_result,
)
from basewatch.errors import CacheError, CodecError
from basewatch.models import (
    BaseImage,
    BaseMethod,
    Confidence,
    DatabaseInfo,
    Inventory,
    Package,
    PackageType,
    SourceType,
)
from tests.unit.report.conftest import make_inventory, make_minimal_inventory
from tests.unit.report.scan_fixtures import make_scan_result

BASE = BaseImage(
    reference="docker.io/library/debian:bookworm",
    digest="sha256:" + "b" * 64,
    method=BaseMethod.CATALOG,
    confidence=Confidence.HIGH,
    layers=1,
)


def full_inventory() -> Inventory:
    inventory = make_inventory()
    image = dataclasses.replace(
        inventory.image,
        os="linux",
        architecture="arm64",
        variant="v8",
        env=("PATH=/usr/bin", "LD_LIBRARY_PATH=/opt/lib"),
        labels=(("z", "1"), ("a", "2")),
    )
    return dataclasses.replace(
        inventory, image=image, base=BASE, warnings=("one",), filesystem_bytes=1234
    )


def through_json(document: dict[str, Any]) -> Any:
    return json.loads(json.dumps(document))


def test_inventory_round_trips_through_json() -> None:
    for inventory in (full_inventory(), make_minimal_inventory()):
        document = through_json(encode_inventory(inventory))
        assert document["schema_version"] == INVENTORY_SCHEMA
        assert decode_inventory(document) == inventory


def test_scan_result_round_trips_through_json() -> None:
    result = dataclasses.replace(
        make_scan_result(),
        database=DatabaseInfo("vuln.db", (("osv", "2024-05-01"),), (("osv", "2024-04-30"),)),
        warnings=("w",),
        unchecked=("Debian:12 foo",),
    )
    assert result.findings and result.suppressed
    assert decode_scan_result(through_json(encode_scan_result(result))) == result


def test_advice_round_trips_through_json() -> None:
    advice = Advice(
        image="app:1",
        base=BASE,
        recommendations=(
            Recommendation(
                kind=RecommendationKind.UPDATE,
                reference="debian:trixie",
                fixes=("libc6:CVE-1",),
                size_delta=-5,
                changed_packages=(("libc6", "2.36", "2.41"),),
                candidate_checked=Coverage.PARTIAL,
                candidate_unchecked=("Debian:13 x",),
            ),
            Recommendation(kind=RecommendationKind.REFRESH, reference="r", digest="sha256:1"),
        ),
        rebuild=True,
        reasons=("because",),
        not_checked=("the tags",),
    )
    document = through_json(encode_advice(advice))
    assert document["schema_version"] == ADVICE_SCHEMA
    assert document["recommendations"][0]["digest"] is None  # "" is written as null
    assert decode_advice(document) == advice


def test_encoders_write_every_field_in_declaration_order() -> None:
    package = make_inventory().packages[0]
    fields = [f.name for f in dataclasses.fields(Package)]
    assert list(encode_package(package)) == fields
    finding = make_scan_result().findings[0]
    # the package comes last, where the scan report has always had it
    names = [f.name for f in dataclasses.fields(finding) if f.name != "package"]
    assert sorted(encode_finding(finding)) == sorted([*names, "package"])
    assert list(encode_finding(finding))[-1] == "package"


def test_enums_serialise_as_their_old_strings() -> None:
    document = encode_inventory(full_inventory())
    assert document["image"]["source_type"] == "registry"
    assert document["base"]["method"] == "catalog"
    assert document["base"]["confidence"] == "high"
    assert {m.value for m in SourceType} >= {"docker-archive", "oci", "dir", "rootfs", "sbom"}


def _broken(mutate: Any) -> dict[str, Any]:
    document: dict[str, Any] = through_json(encode_inventory(full_inventory()))
    mutate(document)
    return document


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=2), "schema version 2, this basewatch reads version 1"),
        (lambda d: d.pop("schema_version"), "schema version None"),
        (lambda d: d.update(schema_version=True), "schema version True"),
        (lambda d: d.update(packages={}), r"inventory\.packages: expected a list, got an object"),
        (
            lambda d: d["packages"][1].update(version=3),
            r"inventory\.packages\[1\]\.version: expected a string, got a number",
        ),
        (
            lambda d: d["packages"][0].update(type="snap"),
            r"inventory\.packages\[0\]\.type: expected one of deb, apk",
        ),
        (lambda d: d["packages"][0].pop("name"), r"\.name: expected a string, got nothing"),
        (lambda d: d["packages"].append(None), r"expected an object, got nothing"),
        (lambda d: d["image"].update(source_type="tape"), r"inventory\.image\.source_type"),
        (lambda d: d["image"]["layers"][0].update(size="1"), r"layers\[0\]\.size"),
        (lambda d: d["image"].update(labels={"a": 1}), r"labels: expected an object of strings"),
        (lambda d: d["base"].update(confidence="certain"), r"base\.confidence"),
        (lambda d: d["os"].update(distroless="yes"), r"os\.distroless: expected true or false"),
        (lambda d: d.update(warnings=[1]), r"warnings: expected a list of strings"),
        (lambda d: d.update(filesystem_bytes=1.5), r"filesystem_bytes: expected an integer"),
    ],
)
def test_malformed_documents_are_codec_errors(mutate: Any, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode_inventory(_broken(mutate))


def test_codec_error_is_a_cache_error() -> None:
    # readers of caches and stores catch CacheError: a malformed entry is a miss
    assert issubclass(CodecError, CacheError)
    with pytest.raises(CacheError):
        decode_inventory([])


def test_package_defaults_optional_fields() -> None:
    package = decode_package({"name": "a", "version": "1", "type": "pypi"})
    assert package == Package("a", "1", PackageType.PYPI)


def test_finding_weaknesses_round_trip_and_default_when_absent() -> None:
    finding = dataclasses.replace(
        make_scan_result().findings[0], cwe_ids=("CWE-20", "CWE-116", "CWE-670")
    )
    document = through_json(encode_finding(finding))
    assert document["cwe_ids"] == ["CWE-20", "CWE-116", "CWE-670"]
    assert decode_finding(document) == finding
    # a finding stored or cached by a basewatch from before weaknesses
    del document["cwe_ids"]
    assert decode_finding(document).cwe_ids == ()
    with pytest.raises(CodecError, match=r"finding\.cwe_ids: expected a list of strings"):
        decode_finding({**document, "cwe_ids": "CWE-79"})
