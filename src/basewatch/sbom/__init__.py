"""SBOMs as input: `basewatch scan --sbom FILE` scans the packages an SBOM lists, not an image.

`reader.read_sbom` reads CycloneDX 1.4-1.6 JSON and SPDX 2.2/2.3 JSON, as basewatch, Syft and
Trivy write them, back into an `Inventory`. Packages are rebuilt from their purls; basewatch's
own `basewatch:` properties, when present, restore what a purl cannot carry (layer, evidence,
source package, origin).
"""
