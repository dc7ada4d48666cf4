"""What the rules know about well-known base images: C library, slim variants, default user."""

from __future__ import annotations

from basewatch.lint.reference import ImageRef

# Official images whose default variant is Debian/Ubuntu based (glibc) unless the tag says alpine.
_GLIBC_NAMES = frozenset(
    {
        "debian", "ubuntu", "buildpack-deps", "python", "node", "golang", "rust", "ruby",
        "openjdk", "eclipse-temurin", "perl", "php", "gcc", "centos", "fedora", "rockylinux",
        "almalinux", "amazonlinux", "oraclelinux", "ubi8", "ubi9", "ubi", "ubi-minimal",
        "postgres", "nginx", "httpd", "redis", "maven", "gradle", "haskell", "erlang", "elixir",
        "swift", "julia", "r-base", "clojure", "dotnet", "sdk", "runtime", "aspnet", "base", "cc",
    }
)  # fmt: skip

# name -> how to spell its slim variant of a tag ("" stands for the tag).
_SLIM_STYLE = {
    "python": "slim-before-distro",  # 3.12-bookworm -> 3.12-slim-bookworm
    "ruby": "slim-before-distro",
    "openjdk": "slim-before-distro",
    "perl": "slim-before-distro",
    "rust": "slim-before-distro",
    "node": "slim-after-distro",  # 20-bookworm -> 20-bookworm-slim
    "debian": "slim-after-distro",  # bookworm -> bookworm-slim
}
_DISTRO_WORDS = frozenset({"bookworm", "bullseye", "buster", "stretch", "trixie", "jessie"})
_MINIMAL_WORDS = frozenset(
    {"slim", "alpine", "minimal", "distroless", "nanoserver", "windowsservercore", "static"}
)


def is_musl(ref: ImageRef) -> bool:
    """Alpine, or an official image's Alpine variant (`python:3.12-alpine3.20`)."""
    return ref.name == "alpine" or "alpine" in ref.tag.lower()


def is_glibc(ref: ImageRef) -> bool:
    """Known to ship glibc (Debian, Ubuntu, RHEL families and images built on them)."""
    if is_musl(ref) or "static" in ref.tag.lower() or "windows" in ref.tag.lower():
        return False
    return ref.name in _GLIBC_NAMES


def slim_variant(ref: ImageRef) -> str | None:
    """The slim tag for a full-variant tag (`3.12` -> `3.12-slim`), None when already minimal."""
    style = _SLIM_STYLE.get(ref.name)
    if style is None or not ref.official:
        return None
    words = ref.tag.lower().split("-") if ref.tag else ["latest"]
    if any(w in _MINIMAL_WORDS or w.startswith("alpine") for w in words):
        return None
    if words == ["latest"]:
        return "slim"
    if ref.name == "debian":
        if any(w.isdigit() and len(w) == 8 for w in words[1:]):
            return None  # dated snapshots have their own slim spelling
        return "-".join([*words, "slim"])
    distro = next((i for i, w in enumerate(words) if w in _DISTRO_WORDS), None)
    if distro is None:
        return "-".join([*words, "slim"])
    if style == "slim-before-distro":
        return "-".join([*words[:distro], "slim", *words[distro:]])
    return "-".join([*words[: distro + 1], "slim", *words[distro + 1 :]])


def runs_as_non_root(ref: ImageRef) -> bool:
    """Images whose default user is known not to be root (distroless `nonroot` tags...)."""
    tag = ref.tag.lower()
    return "nonroot" in tag or "non-root" in tag or "rootless" in tag
