"""cyclonedx-python-lib as the reference for basewatch's CycloneDX writer.

basewatch writes CycloneDX JSON itself (importing and driving the library cost more than the
rest of a warm `basewatch sbom`). The library stays the judge: `library_rendering` reads a
document into the library's model and has the library write it again. A document the library
reads back into exactly itself uses the library's field names, value formats, sort orders and
de-duplication everywhere, which is what rendering through the library produced before.
"""

from __future__ import annotations

import json
from typing import Any

from cyclonedx.contrib.bom.utils import BomDependencyGraphFlatMerger, BomRefDiscriminator
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema.schema import SchemaVersion1Dot6


def library_rendering(document: dict[str, Any]) -> dict[str, Any]:
    """`document` read into cyclonedx-python-lib's `Bom` and written back as CycloneDX 1.6.

    This is what `cyclonedx.output.json.JsonV1Dot6` writes, less its `Bom.validate()` (quadratic
    in the number of components; the schema tests check the same properties).
    """
    bom = Bom.from_json(document)  # type: ignore[attr-defined]
    with BomRefDiscriminator.from_bom(bom), BomDependencyGraphFlatMerger(bom):
        body: dict[str, Any] = json.loads(bom.as_json(view_=SchemaVersion1Dot6))
    rendered: dict[str, Any] = {
        "$schema": document.get("$schema"),
        "bomFormat": "CycloneDX",
        "specVersion": SchemaVersion.V1_6.to_version(),
    }
    rendered.update(body)
    return rendered
