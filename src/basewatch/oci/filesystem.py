"""The final filesystem of an image: layers applied in order, with whiteouts and opaque dirs.

It holds metadata only (no content), so memory grows with the number of paths, not with the
size of the image. Symlinks are resolved inside the image root, chroot-style: an absolute target
starts at the image root, and nothing ever touches the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from basewatch.models import EntryKind
from basewatch.oci.layer import FileEntry

MAX_SYMLINK_HOPS = 40  # what Linux allows before ELOOP


class _Node:
    __slots__ = ("children", "entry", "layer")

    def __init__(self, entry: FileEntry | None, layer: int) -> None:
        self.entry = entry
        self.layer = layer
        self.children: dict[str, _Node] | None = (
            {} if entry is None or entry.kind is EntryKind.DIR else None
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a path leads: the real path and its entry, or why it leads nowhere."""

    path: str
    entry: FileEntry | None
    layer: int = -1
    problem: str = ""  # "loop", "not found"; "" when found


class FileSystemView:
    """A read-only view of the final filesystem that knows which layer last wrote each path."""

    def __init__(self) -> None:
        self._root = _Node(None, -1)

    @classmethod
    def from_layers(cls, layers: Iterable[Iterable[FileEntry]]) -> FileSystemView:
        view = cls()
        for index, entries in enumerate(layers):
            view.apply_layer(index, entries)
        return view

    def apply_layer(self, index: int, entries: Iterable[FileEntry]) -> None:
        """Apply one layer: its deletions hide lower layers only, then its entries are added."""
        additions: list[FileEntry] = []
        for entry in entries:
            if entry.kind is EntryKind.WHITEOUT:
                self._delete(entry.path)
            elif entry.kind is EntryKind.OPAQUE:
                node = self._walk(entry.path)
                if node is not None and node.children is not None:
                    node.children = {
                        name: child for name, child in node.children.items() if child.layer == index
                    }
            else:
                additions.append(entry)
        for entry in additions:
            self._add(entry, index)

    def _walk(self, path: str) -> _Node | None:
        node = self._root
        # "/" itself is the root: an opaque marker at the image root (`./.wh..wh..opq`) makes
        # the whole root opaque, and must find it ("/".split("/") has an empty name).
        for part in (p for p in path.split("/") if p):
            if node.children is None:
                return None
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        return node

    def _delete(self, path: str) -> None:
        parent_path, _, name = path.rpartition("/")
        parent = self._walk(parent_path or "/") if parent_path else self._root
        if parent is not None and parent.children is not None:
            parent.children.pop(name, None)

    def _add(self, entry: FileEntry, index: int) -> None:
        parts = entry.path.split("/")[1:]
        node = self._root
        for part in parts[:-1]:
            assert node.children is not None
            child = node.children.get(part)
            if child is None or child.children is None:
                # A missing parent (tars may omit directory entries) or a non-directory in the
                # way: a directory replaces it, as when the tar is extracted.
                child = _Node(None, index)
                node.children[part] = child
            node = child
        assert node.children is not None
        existing = node.children.get(parts[-1])
        if entry.kind is EntryKind.DIR and existing is not None and existing.children is not None:
            existing.entry, existing.layer = (
                entry,
                index,
            )  # directory metadata updated, content kept
            return
        node.children[parts[-1]] = _Node(entry, index)

    # --- queries -----------------------------------------------------------------------------

    def lstat(self, path: str) -> tuple[FileEntry, int] | None:
        """The entry at `path` (not following a final symlink) and the layer index that wrote it.

        Intermediate symlinked directories are not followed here: see `resolve`.
        """
        node = self._walk(path) if path != "/" else None
        if node is None or node.entry is None:
            if node is not None:  # an implicit directory (no tar entry of its own)
                return FileEntry(path, EntryKind.DIR), node.layer
            return None
        return node.entry, node.layer

    def exists(self, path: str) -> bool:
        return self._walk(path) is not None

    def layer_of(self, path: str) -> int:
        """The index of the layer that last wrote `path`, or -1 if the path is not in the image."""
        node = self._walk(path)
        return node.layer if node is not None else -1

    def resolve(self, path: str) -> Resolution:
        """Follow symlinks (and hardlinks) in every component of `path` inside the image root."""
        hops = 0
        pending = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        node = self._root
        while pending:
            part = pending.pop(0)
            if part == "..":
                # chroot semantics: ".." from the root stays at the root, never reaching the host
                if done:
                    done.pop()
                parent = self._walk("/" + "/".join(done)) if done else self._root
                assert parent is not None
                node = parent
                continue
            if node.children is None or part not in node.children:
                return Resolution(
                    "/" + "/".join([*done, part, *pending]), None, problem="not found"
                )
            child = node.children[part]
            entry = child.entry
            if entry is not None and entry.kind is EntryKind.SYMLINK:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return Resolution(path, None, problem="symlink loop")
                target = [p for p in entry.link.split("/") if p not in ("", ".")]
                if entry.link.startswith("/"):
                    done, node = [], self._root
                pending = target + pending
                continue
            if entry is not None and entry.kind is EntryKind.HARDLINK and not pending:
                target_node = self._walk(entry.link)
                if target_node is None or target_node.entry is None:
                    return Resolution(entry.link, None, problem="not found")
                return Resolution(entry.link, target_node.entry, target_node.layer)
            done.append(part)
            node = child
        real = "/" + "/".join(done)
        if node.entry is None:
            return Resolution(real, FileEntry(real, EntryKind.DIR), node.layer)
        return Resolution(real, node.entry, node.layer)

    def walk(self) -> Iterator[tuple[FileEntry, int]]:
        """Every entry of the final filesystem with the layer that wrote it, in path order."""
        stack: list[tuple[str, _Node]] = [("", self._root)]
        while stack:
            prefix, node = stack.pop()
            if prefix:
                yield (node.entry or FileEntry(prefix, EntryKind.DIR)), node.layer
            if node.children:
                stack.extend(
                    (f"{prefix}/{name}", node.children[name])
                    for name in sorted(node.children, reverse=True)
                )

    def __len__(self) -> int:
        return sum(1 for _ in self.walk())
