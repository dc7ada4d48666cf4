"""Compat verdicts from per-layer ELF facts: the final filesystem -> the loader model -> one
verdict per ELF file (on its own image, or transplanted onto a base).

Reading the images and their cached facts is the compat job's (`basewatch.jobs.compat`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from basewatch.compat.facts import ImageFiles
from basewatch.compat.loader import LoaderModel
from basewatch.compat.model import (
    CompatReport,
    FileKind,
    FileVerdict,
    LibcFamily,
    Severity,
)
from basewatch.compat.wheels import check_wheel, musl_notes
from basewatch.elf.reader import ElfInfo
from basewatch.errors import UsageError
from basewatch.inventory.detector import FileResult
from basewatch.models import EntryKind, ImageInfo
from basewatch.oci.layer import FileEntry

Layer = tuple[Sequence[FileEntry], Sequence[FileResult]]


def evaluate(reference: str, info: ImageInfo, layers: Sequence[Layer]) -> CompatReport:
    files = ImageFiles.from_layers(layers)
    model = LoaderModel(files, info.architecture, info.env_value("LD_LIBRARY_PATH"))
    return _report(reference, info, model, files, first_layer=0)


def evaluate_on(
    reference: str,
    app_layers: Sequence[Layer],
    base: str,
    base_info: ImageInfo,
    base_layers: Sequence[Layer],
    layers: int | None = None,
    path: str | None = None,
    library_path: str | None = None,
) -> CompatReport:
    """Transplant the application part of an image onto a base's filesystem and evaluate it.

    `library_path` is the LD_LIBRARY_PATH the application runs with (its image's config).
    """
    if layers is not None and path is not None:
        raise UsageError("give --layers N or --path DIR, not both")
    if path is not None:
        app_part = [_subtree(app_layers, path)]
    else:
        count = 1 if layers is None else layers
        if not 1 <= count <= len(app_layers):
            raise UsageError(f"--layers {count}: the image has {len(app_layers)} layer(s)")
        app_part = list(app_layers[-count:])
    combined = [*base_layers, *app_part]
    files = ImageFiles.from_layers(combined)
    model = LoaderModel(files, base_info.architecture, library_path)
    report = _report(reference, base_info, model, files, first_layer=len(base_layers))
    return replace(report, base=base)


def _subtree(layers: Sequence[Layer], directory: str) -> Layer:
    """The final state of everything under `directory`, as one layer."""
    prefix = "/" + directory.strip("/")
    files = ImageFiles.from_layers(layers)
    entries: list[FileEntry] = []
    results: list[FileResult] = []
    found = False
    for entry, layer in files.view.walk():
        if entry.path != prefix and not entry.path.startswith(prefix + "/"):
            continue
        found = True
        entries.append(entry)
        if entry.kind is EntryKind.FILE:
            result = files.results.get((layer, entry.path))
            if result is not None:
                results.append(result)
    if not found:
        raise UsageError(f"--path {directory}: nothing at that path in the image")
    return entries, results


def _report(
    reference: str, info: ImageInfo, model: LoaderModel, files: ImageFiles, first_layer: int
) -> CompatReport:
    verdicts: list[FileVerdict] = []
    stacks: list[tuple[str, int]] = []
    for path, layer, elf in files.elves():
        if layer < first_layer:
            continue
        verdict = model.evaluate(path, layer, elf)
        if verdict is not None:
            verdicts.append(verdict)
            if (
                verdict.kind is FileKind.DYNAMIC
                and verdict.libc is LibcFamily.MUSL
                and isinstance(elf, ElfInfo)
            ):
                stacks.append((path, elf.stack_size))
    for entry, layer in files.view.walk():
        if layer >= first_layer and entry.path.endswith(".dist-info/WHEEL"):
            text = files.text(entry.path)
            wheel = check_wheel(entry.path, layer, text, model.libc) if text else None
            if wheel is not None:
                verdicts.append(wheel)
    return CompatReport(
        image=reference,
        platform=info.platform,
        libc=model.libc,
        files=tuple(sorted(_addon_variants(verdicts), key=lambda v: v.path)),
        warnings=tuple(model.warnings),
        notes=musl_notes(model.libc, sorted(stacks)),
    )


def _node_package(path: str) -> str:
    """The directory of the npm package that holds `path` ("" outside node_modules)."""
    head, sep, rest = path.rpartition("/node_modules/")
    if not sep:
        return ""
    parts = rest.split("/")
    depth = 2 if parts[0].startswith("@") else 1
    return f"{head}/node_modules/" + "/".join(parts[:depth]) if len(parts) > depth else ""


def _addon_variants(verdicts: list[FileVerdict]) -> list[FileVerdict]:
    """A Node addon that fails is no failure when its package ships another variant that loads
    (prebuilds for glibc and musl side by side: node-gyp-build picks the one that fits)."""
    loading: dict[str, str] = {}
    for v in verdicts:
        package = _node_package(v.path) if v.path.endswith(".node") else ""
        if package and v.loads:
            loading.setdefault(package, v.path)
    out = []
    for v in verdicts:
        package = _node_package(v.path) if v.path.endswith(".node") else ""
        if package in loading and not v.loads:
            note = f" (not used: {loading[package]} loads instead)"
            v = replace(
                v,
                problems=tuple(
                    replace(p, severity=Severity.INFO, message=p.message + note) for p in v.problems
                ),
            )
        out.append(v)
    return out
