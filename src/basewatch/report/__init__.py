"""basewatch reports: one folder per command family, and the modules every family shares.

- `renderer.py`: the `Renderer` protocol and the CLI's `--format` helpers.
- `formats.py`: each family's formats as a `StrEnum` and the renderer of each (`sbom_renderer`,
  `scan_renderer`, ...); the only module here that imports the families.
- `sbom/`, `scan/`, `compat/`, `compare/`, `advise/`, `lint/`: one module per format.
- Shared, imported by families and never importing one: `common.py` (names, order, suppliers,
  digests), `text.py` (printable text, columns, Markdown escapes), `jsondoc.py`, `licenses.py`,
  `cyclonedx.py` (the CycloneDX BOM document), `sarif.py`.

tests/unit/report/test_layering.py keeps that so: no cycles, no shared module importing a family,
no family importing another.
"""
