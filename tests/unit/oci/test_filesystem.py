from __future__ import annotations

from basewatch.models import EntryKind
from basewatch.oci.filesystem import FileSystemView
from basewatch.oci.layer import FileEntry


def f(path: str) -> FileEntry:
    return FileEntry(path, EntryKind.FILE, 1)


def d(path: str) -> FileEntry:
    return FileEntry(path, EntryKind.DIR)


def link(path: str, target: str) -> FileEntry:
    return FileEntry(path, EntryKind.SYMLINK, link=target)


def test_later_layers_win_and_whiteouts_delete() -> None:
    view = FileSystemView.from_layers(
        [
            [d("/etc"), f("/etc/a"), f("/etc/b"), d("/opt"), f("/opt/x/y")],
            [f("/etc/a"), FileEntry("/etc/b", EntryKind.WHITEOUT)],
        ]
    )
    assert view.layer_of("/etc/a") == 1
    assert not view.exists("/etc/b")
    assert view.layer_of("/opt/x/y") == 0
    assert view.layer_of("/missing") == -1


def test_whiteout_of_a_directory_removes_its_subtree() -> None:
    view = FileSystemView.from_layers(
        [
            [f("/usr/share/doc/curl/copyright")],
            [FileEntry("/usr/share/doc/curl", EntryKind.WHITEOUT)],
        ]
    )
    assert not view.exists("/usr/share/doc/curl/copyright")
    assert view.exists("/usr/share/doc")


def test_opaque_directory_hides_lower_layers_but_keeps_its_own_layer() -> None:
    view = FileSystemView.from_layers(
        [
            [f("/app/old.py"), f("/app/keep/me")],
            [f("/app/new.py"), FileEntry("/app", EntryKind.OPAQUE)],
        ]
    )
    assert view.exists("/app/new.py")
    assert not view.exists("/app/old.py")
    assert not view.exists("/app/keep/me")


def test_symlinks_resolve_inside_the_root() -> None:
    view = FileSystemView.from_layers(
        [
            [
                link("/lib", "usr/lib"),
                f("/usr/lib/os-release"),
                link("/etc/os-release", "../usr/lib/os-release"),
                link("/etc/abs", "/usr/lib/os-release"),
                link("/etc/escape", "../../../../../usr/lib/os-release"),
            ]
        ]
    )
    assert view.resolve("/etc/os-release").path == "/usr/lib/os-release"
    assert view.resolve("/etc/abs").path == "/usr/lib/os-release"
    assert view.resolve("/lib/os-release").path == "/usr/lib/os-release"
    # ".." above the root stays at the image root: the host is never reached
    assert view.resolve("/etc/escape").path == "/usr/lib/os-release"


def test_symlink_loops_and_dangling_links_resolve_to_nothing() -> None:
    view = FileSystemView.from_layers(
        [[link("/a", "b"), link("/b", "a"), link("/c", "/nowhere/file")]]
    )
    loop = view.resolve("/a")
    assert loop.entry is None
    assert loop.problem == "symlink loop"
    assert view.resolve("/c").problem == "not found"


def test_hardlink_resolves_to_its_target() -> None:
    view = FileSystemView.from_layers(
        [[f("/bin/busybox"), FileEntry("/bin/sh", EntryKind.HARDLINK, link="/bin/busybox")]]
    )
    resolved = view.resolve("/bin/sh")
    assert resolved.path == "/bin/busybox"
    assert resolved.entry is not None
    assert resolved.entry.kind is EntryKind.FILE


def test_walk_lists_final_entries_with_their_layers() -> None:
    view = FileSystemView.from_layers([[d("/a"), f("/a/1")], [f("/a/2")]])
    assert [(e.path, layer) for e, layer in view.walk()] == [("/a", 0), ("/a/1", 0), ("/a/2", 1)]


def test_an_opaque_root_hides_everything_below() -> None:
    """The layer stream turns `./.wh..wh..opq` into OPAQUE for "/": the whole root."""
    view = FileSystemView.from_layers(
        [
            [d("/etc"), f("/etc/a"), f("/var/lib/dpkg/status")],
            [FileEntry("/", EntryKind.OPAQUE), f("/etc/b")],
        ]
    )
    assert [entry.path for entry, _ in view.walk()] == ["/etc", "/etc/b"]
    assert not view.exists("/var/lib/dpkg/status")
    assert view.layer_of("/etc") == 1
