"""Finding an image's attestations: the referrers API, its tag schema fallback, BuildKit's.

Debian's `docker-registry` (2.8) has no referrers API: it answers 404, and the tests push what
`oras attach` pushes to such a registry, with plain HTTP uploads: an artifact manifest
(`artifactType`, the empty config, one layer: basewatch's own SPDX SBOM of the image, `subject`
the image) and the referrers index under the `sha256-<hex>` tag. BuildKit's attestations go into
the image's own index, as `docker buildx build --sbom --provenance` puts them. The referrers API
itself is served by a small HTTP server on loopback, to cover filtering, paging and limits.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from basewatch.cli.main import main
from basewatch.errors import ImageError, RegistryError
from basewatch.oci.manifest import OCI_INDEX, OCI_MANIFEST
from basewatch.oci.reference import RegistryRef
from basewatch.oci.referrers import (
    IN_TOTO,
    PREDICATE_TYPE,
    REFERENCE_DIGEST,
    Kind,
    Source,
    attestations_in_index,
    attestations_in_manifest,
    classify,
    classify_predicate,
    kinds,
    referrers_tag,
)
from basewatch.oci.registry.client import RegistryClient
from basewatch.oci.registry.options import RegistryOptions
from tests.fixtures import shared_fixture
from tests.integration import referrer_push as rp
from tests.integration import registry_server as rs
from tests.integration.conftest import in_ci
from tests.integration.referrer_push import Uploader
from tests.service_support import images

pytestmark = pytest.mark.integration

SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_PREDICATE = "dev.sigstore.bundle.predicateType"


def _options(**changes: Any) -> RegistryOptions:
    return RegistryOptions(use_cache=False, retries=0, sleep=lambda _: None, **changes)


# --- classification: no network ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("artifact_type", "media_type", "annotations", "expected"),
    [
        (SPDX, OCI_MANIFEST, {}, Kind.SBOM),
        ("application/vnd.cyclonedx+json; version=1.6", OCI_MANIFEST, {}, Kind.SBOM),
        ("", "application/vnd.syft+json", {}, Kind.SBOM),  # a layer: its media type says it
        (IN_TOTO, OCI_MANIFEST, {PREDICATE_TYPE: "https://spdx.dev/Document"}, Kind.SBOM),
        (IN_TOTO, OCI_MANIFEST, {PREDICATE_TYPE: "https://cyclonedx.org/bom/v1.4"}, Kind.SBOM),
        (IN_TOTO, OCI_MANIFEST, {PREDICATE_TYPE: SLSA_V02}, Kind.PROVENANCE),
        (IN_TOTO, OCI_MANIFEST, {PREDICATE_TYPE: SLSA_V1}, Kind.PROVENANCE),
        (BUNDLE, OCI_MANIFEST, {BUNDLE_PREDICATE: SLSA_V1}, Kind.PROVENANCE),
        (BUNDLE, OCI_MANIFEST, {BUNDLE_PREDICATE: "https://spdx.dev/Document/v2.3"}, Kind.SBOM),
        # a signature, a statement of unknown predicate, an attestation that names none
        (BUNDLE, OCI_MANIFEST, {BUNDLE_PREDICATE: COSIGN_SIGN}, Kind.OTHER),
        (
            IN_TOTO,
            OCI_MANIFEST,
            {PREDICATE_TYPE: "https://slsa.dev/verification_summary/v1"},
            Kind.OTHER,
        ),
        (IN_TOTO, OCI_MANIFEST, {}, Kind.OTHER),
        (BUNDLE, OCI_MANIFEST, {}, Kind.OTHER),
        # a predicate decides over the media type: an in-toto statement is not its predicate
        (SPDX, OCI_MANIFEST, {PREDICATE_TYPE: SLSA_V1}, Kind.PROVENANCE),
        ("application/vnd.example.sbom.v1", OCI_MANIFEST, {}, Kind.OTHER),
    ],
)
def test_classify(
    artifact_type: str, media_type: str, annotations: dict[str, str], expected: Kind
) -> None:
    assert classify(artifact_type, media_type, annotations.items()) is expected


def test_predicates_are_matched_by_uri_not_by_prefix_of_a_word() -> None:
    assert classify_predicate("https://slsa.dev/provenance/v1") is Kind.PROVENANCE
    assert classify_predicate("https://slsa.dev/provenance-not/v1") is Kind.OTHER
    assert classify_predicate("https://spdx.dev/Documents") is Kind.OTHER


def test_referrers_tag() -> None:
    sha256 = "sha256:" + "a" * 64
    assert referrers_tag(sha256) == "sha256-" + "a" * 64
    assert referrers_tag("sha512:" + "b" * 128) == "sha512-" + "b" * 64  # the spec's 64 chars


# --- the referrers API, served by a small HTTP server --------------------------------------------


@dataclass
class FakeReferrers:
    """A registry answering `/v2/<repo>/referrers/<digest>` from `listing` (digest -> index
    entries), filtering on `artifactType` when `filters`; `pages` entries a page (Link);
    `body` replaces every answer's body, sent with its length or (`chunked`) until close."""

    listing: dict[str, list[dict[str, Any]]]
    filters: bool = True
    pages: int = 0
    body: bytes | None = None
    announce_length: bool = True
    next_link: Callable[[str, int], str] | None = None
    requests: list[str] = field(default_factory=list)
    port: int = 0

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                parts = urlsplit(self.path)
                if parts.path == "/v2/":
                    self._send(200, b"{}", "application/json", {})
                    return
                prefix = "/v2/app/referrers/"
                if not parts.path.startswith(prefix):
                    self._send(404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json", {})
                    return
                query = parse_qs(parts.query)
                entries = list(fake.listing.get(parts.path[len(prefix) :], []))
                headers: dict[str, str] = {}
                wanted = query.get("artifactType", [""])[0]
                if wanted and fake.filters:
                    entries = [e for e in entries if e.get("artifactType") == wanted]
                    headers["OCI-Filters-Applied"] = "artifactType"
                if fake.pages:
                    start = int(query.get("page", ["0"])[0])
                    if start + fake.pages < len(entries):
                        link = f"{parts.path}?page={start + fake.pages}"
                        if fake.next_link is not None:
                            link = fake.next_link(parts.path, start + fake.pages)
                        headers["Link"] = f'<{link}>; rel="next"'
                    entries = entries[start : start + fake.pages]
                index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
                body = fake.body if fake.body is not None else rp.canonical_json(index)
                self._send(200, body, OCI_INDEX, headers)

            def _send(
                self, status: int, body: bytes, content_type: str, headers: dict[str, str]
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for key, value in headers.items():
                    self.send_header(key, value)
                if fake.announce_length or status != 200:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()  # HTTP/1.0: without a length, the body ends with the connection
                self.wfile.write(body)

        return Handler

    @property
    def ref(self) -> RegistryRef:
        return RegistryRef(f"127.0.0.1:{self.port}", "app")


@pytest.fixture
def serve() -> Iterator[Callable[[FakeReferrers], FakeReferrers]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(fake: FakeReferrers) -> FakeReferrers:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        httpd.daemon_threads = True
        fake.port = int(httpd.server_address[1])
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return fake

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


IMAGE = "sha256:" + "1" * 64


def _entry(n: int, artifact_type: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "mediaType": OCI_MANIFEST,
        "digest": f"sha256:{n:064x}",
        "size": 600 + n,
        "artifactType": artifact_type,
    }
    if annotations:
        entry["annotations"] = annotations
    return entry


LISTING = [
    _entry(1, SPDX, {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}),
    _entry(2, CYCLONEDX),
    _entry(3, BUNDLE, {"dev.sigstore.bundle.content": "dsse-envelope", BUNDLE_PREDICATE: SLSA_V1}),
    _entry(
        4,
        BUNDLE,
        {"dev.sigstore.bundle.content": "message-signature", BUNDLE_PREDICATE: COSIGN_SIGN},
    ),
]


def test_api_lists_and_classifies_referrers(
    serve: Callable[[FakeReferrers], FakeReferrers],
) -> None:
    bad = {"mediaType": OCI_MANIFEST, "digest": "sha256:short", "artifactType": SPDX}
    fake = serve(FakeReferrers({IMAGE: [*LISTING, bad]}))
    with RegistryClient(_options()) as client:
        found = client.list_referrers(fake.ref, IMAGE)
    assert found.source is Source.API
    # the entry with a malformed digest is skipped: nothing could be fetched by it
    assert [r.digest for r in found.items] == [f"sha256:{n:064x}" for n in (1, 2, 3, 4)]
    assert [r.kind for r in found.items] == [Kind.SBOM, Kind.SBOM, Kind.PROVENANCE, Kind.OTHER]
    assert found.kinds == {Kind.SBOM, Kind.PROVENANCE, Kind.OTHER}
    assert found.items[0].annotation("org.opencontainers.image.created") == "2026-01-01T00:00:00Z"
    assert found.items[2].predicate_type == SLSA_V1
    assert fake.requests[-1] == f"/v2/app/referrers/{IMAGE}"


def test_api_with_no_referrers_is_empty_from_the_api(
    serve: Callable[[FakeReferrers], FakeReferrers],
) -> None:
    fake = serve(FakeReferrers({}))
    with RegistryClient(_options()) as client:
        found = client.list_referrers(fake.ref, IMAGE)
    assert (found.items, found.source) == ((), Source.API)  # 200 and empty: no fallback
    assert not any("/manifests/" in path for path in fake.requests)


@pytest.mark.parametrize("filters", [True, False], ids=["registry-filters", "registry-ignores"])
def test_api_artifact_type_filter(
    serve: Callable[[FakeReferrers], FakeReferrers], filters: bool
) -> None:
    fake = serve(FakeReferrers({IMAGE: LISTING}, filters=filters))
    with RegistryClient(_options()) as client:
        found = client.list_referrers(fake.ref, IMAGE, artifact_type=SPDX)
    # asked of the registry, and kept to that type whether the registry filtered or not
    assert fake.requests[-1] == f"/v2/app/referrers/{IMAGE}?artifactType=application%2Fspdx%2Bjson"
    assert [r.digest for r in found.items] == [f"sha256:{1:064x}"]
    assert found.kinds == {Kind.SBOM}


def test_api_pages_are_followed(serve: Callable[[FakeReferrers], FakeReferrers]) -> None:
    fake = serve(FakeReferrers({IMAGE: LISTING}, pages=1))
    with RegistryClient(_options()) as client:
        found = client.list_referrers(fake.ref, IMAGE)
    assert [r.digest for r in found.items] == [f"sha256:{n:064x}" for n in (1, 2, 3, 4)]
    assert len([p for p in fake.requests if "/referrers/" in p]) == 4


def test_api_next_page_outside_the_referrers_list_is_not_followed(
    serve: Callable[[FakeReferrers], FakeReferrers],
) -> None:
    fake = serve(
        FakeReferrers({IMAGE: LISTING}, pages=2, next_link=lambda path, n: "/v2/app/blobs/x")
    )
    with RegistryClient(_options()) as client:
        found = client.list_referrers(fake.ref, IMAGE)
    assert len(found.items) == 2
    assert not any("/blobs/" in path for path in fake.requests)


def test_api_pagination_that_loops_is_refused(
    serve: Callable[[FakeReferrers], FakeReferrers],
) -> None:
    fake = serve(
        FakeReferrers({IMAGE: LISTING}, pages=1, next_link=lambda path, n: f"{path}?page=1")
    )
    with RegistryClient(_options()) as client, pytest.raises(RegistryError, match="loops"):
        client.list_referrers(fake.ref, IMAGE)


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_api_answer_too_large_is_refused(
    serve: Callable[[FakeReferrers], FakeReferrers], announced: bool
) -> None:
    many = [_entry(n, SPDX) for n in range(100)]  # ~15 KB of index
    fake = serve(FakeReferrers({IMAGE: many}, announce_length=announced))
    too_large = pytest.raises(RegistryError, match="larger than 4096 bytes")
    with RegistryClient(_options(max_document_bytes=4096)) as client, too_large as caught:
        client.list_referrers(fake.ref, IMAGE)
    assert "referrers of" in str(caught.value)
    if announced:
        assert "the registry announces" in str(caught.value)


def test_api_answer_that_is_no_index_is_an_error(
    serve: Callable[[FakeReferrers], FakeReferrers],
) -> None:
    fake = serve(FakeReferrers({}, body=b'{"tags": []}'))
    with RegistryClient(_options()) as client, pytest.raises(RegistryError, match="no image index"):
        client.list_referrers(fake.ref, IMAGE)


def test_a_malformed_digest_is_refused_before_any_request(
    serve: Callable[[FakeReferrers], FakeReferrers],
) -> None:
    fake = serve(FakeReferrers({}))
    with RegistryClient(_options()) as client, pytest.raises(ImageError, match="not a valid"):
        client.list_referrers(fake.ref, "sha256:abc")
    assert fake.requests == []


# --- a real registry without the referrers API ------------------------------------------------


def _require_tools() -> None:
    missing = rs.missing_tools()
    if missing:
        message = f"registry tests need {', '.join(missing)}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@dataclass(frozen=True)
class Pushed:
    registry: rs.RunningRegistry
    layout: Path
    sbom: bytes  # basewatch's SPDX SBOM of the image
    cyclonedx: bytes  # and its CycloneDX one

    def push_image(self, repository: str) -> RegistryRef:
        self.registry.push(f"oci:{self.layout}:1", f"{repository}:1")
        return RegistryRef(self.registry.host, repository, "1")


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    _require_tools()
    work = tmp_path_factory.mktemp("referrers")
    layout = images.stacked_layout(
        work / "layout", "1", shared_fixture(images.ALPINE), [images.app_layer()]
    )
    documents = {}
    for form in ("spdx-json", "cyclonedx-json"):
        out = work / f"sbom.{form}"
        argv = ["sbom", f"oci:{layout}:1", "-f", form, "-o", str(out), "-q"]
        assert main([*argv, "--cache-dir", str(work / "cache")]) == 0
        documents[form] = out.read_bytes()
    with rs.run_registry(work / "registry") as registry:
        yield Pushed(registry, layout, documents["spdx-json"], documents["cyclonedx-json"])


@pytest.fixture
def image(pushed: Pushed, request: pytest.FixtureRequest) -> Iterator[tuple[RegistryRef, Uploader]]:
    """The image pushed to a repository of this test's own, and an uploader for it."""
    repository = request.node.name.split("[")[0].replace("_", "-")
    ref = pushed.push_image(repository)
    uploader = Uploader(ref)
    yield ref, uploader
    uploader.close()


PROVENANCE = {
    "builder": {"id": "https://example.com/ci"},
    "buildType": "https://mobyproject.org/buildkit@v1",
    "materials": [{"uri": "pkg:docker/alpine@3.20.3", "digest": {"sha256": "0" * 64}}],
}


def test_the_registry_has_no_referrers_api_and_nothing_attached_is_none(
    image: tuple[RegistryRef, Uploader],
) -> None:
    ref, up = image
    with RegistryClient(_options()) as client:
        digest = client.get_manifest(ref, "1").digest
        found = client.list_referrers(ref, digest)
    answer = up.http.get(f"referrers/{digest}")
    assert answer.status_code == 404  # what docker-registry 2.8 says: no such route
    assert (found.items, found.source) == ((), Source.NONE)


def test_referrers_found_through_the_tag_schema(
    image: tuple[RegistryRef, Uploader], pushed: Pushed
) -> None:
    ref, up = image
    with RegistryClient(_options()) as client:
        subject = rp.descriptor(client, ref, "1")
        title = {"org.opencontainers.image.title": "sbom.spdx.json"}
        sbom, sbom_manifest = rp.artifact(
            up,
            subject,
            SPDX,
            up.blob(pushed.sbom, SPDX, annotations=title),
            {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        )
        statement = rp.statement(subject, SLSA_V1, PROVENANCE)
        provenance, _ = rp.artifact(
            up, subject, IN_TOTO, up.blob(statement, IN_TOTO), {PREDICATE_TYPE: SLSA_V1}
        )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [sbom, provenance]}
        up.manifest(index, referrers_tag(subject["digest"]))

        found = client.list_referrers(ref, subject["digest"])
        only_sbom = client.list_referrers(ref, subject["digest"], artifact_type=SPDX)
        # the referrer is the artifact pushed: its subject is the image, its layer the SBOM
        stored = json.loads(client.get_manifest(ref, sbom["digest"]).data)
        layer = stored["layers"][0]
        sbom_blob = client.get_blob(ref, layer["digest"], "sbom", layer["size"])

    assert found.source is Source.TAG_SCHEMA
    assert [(r.digest, r.kind) for r in found.items] == [
        (sbom["digest"], Kind.SBOM),
        (provenance["digest"], Kind.PROVENANCE),
    ]
    assert found.items[0].artifact_type == SPDX
    assert found.items[0].media_type == OCI_MANIFEST
    assert found.items[1].predicate_type == SLSA_V1
    assert [r.digest for r in only_sbom.items] == [sbom["digest"]]
    assert only_sbom.source is Source.TAG_SCHEMA
    assert stored == sbom_manifest
    assert stored["subject"]["digest"] == subject["digest"]
    assert json.loads(sbom_blob)["spdxVersion"].startswith("SPDX-2")


def test_a_referrers_tag_that_holds_no_index_means_none(
    image: tuple[RegistryRef, Uploader],
) -> None:
    ref, up = image
    with RegistryClient(_options()) as client:
        subject = rp.descriptor(client, ref, "1")
        # the tag names the image manifest itself: not an index, so no referrers (the spec)
        up.manifest(
            json.loads(client.get_manifest(ref, "1").data), referrers_tag(subject["digest"])
        )
        found = client.list_referrers(ref, subject["digest"])
    assert (found.items, found.source) == ((), Source.NONE)


def test_buildkit_attestations_in_the_image_index(
    image: tuple[RegistryRef, Uploader], pushed: Pushed
) -> None:
    ref, up = image
    with RegistryClient(_options()) as client:
        subject = rp.descriptor(client, ref, "1")
        sbom = rp.statement(subject, "https://spdx.dev/Document", json.loads(pushed.sbom))
        cyclonedx = rp.statement(subject, "https://cyclonedx.org/bom", json.loads(pushed.cyclonedx))
        provenance = rp.statement(subject, SLSA_V02, PROVENANCE)
        layers = [
            up.blob(data, IN_TOTO, annotations={PREDICATE_TYPE: predicate})
            for data, predicate in (
                (sbom, "https://spdx.dev/Document"),
                (cyclonedx, "https://cyclonedx.org/bom"),
                (provenance, SLSA_V02),
            )
        ]
        diff_ids = [layer["digest"] for layer in layers]
        config = {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        attestation = up.manifest(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": up.blob(
                    rp.canonical_json(config), "application/vnd.oci.image.config.v1+json"
                ),
                "layers": layers,
            }
        )
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {**subject, "platform": {"architecture": "amd64", "os": "linux"}},
                {
                    **attestation,
                    "platform": {"architecture": "unknown", "os": "unknown"},
                    "annotations": {
                        REFERENCE_DIGEST: subject["digest"],
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                },
            ],
        }
        up.manifest(index, "1-attested")

        document = json.loads(client.get_manifest(ref, "1-attested").data)
        found = attestations_in_index(document, subject=subject["digest"])
        statements = [
            statement
            for entry in found
            for statement in attestations_in_manifest(
                json.loads(client.get_manifest(ref, entry.digest).data)
            )
        ]
        # BuildKit's attestations are no referrers: the registry knows nothing of them
        referrers = client.list_referrers(ref, subject["digest"])

    assert [(r.digest, r.kind) for r in found] == [(attestation["digest"], Kind.OTHER)]
    assert attestations_in_index(document, subject="sha256:" + "f" * 64) == []
    assert [(r.digest, r.kind) for r in statements] == [
        (layers[0]["digest"], Kind.SBOM),
        (layers[1]["digest"], Kind.SBOM),
        (layers[2]["digest"], Kind.PROVENANCE),
    ]
    assert [r.predicate_type for r in statements] == [
        "https://spdx.dev/Document",
        "https://cyclonedx.org/bom",
        SLSA_V02,
    ]
    assert kinds(statements) == {Kind.SBOM, Kind.PROVENANCE}
    assert referrers.source is Source.NONE
