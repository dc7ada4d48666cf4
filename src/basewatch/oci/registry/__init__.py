"""Pulling images from OCI distribution registries (Docker Hub, GHCR, a local registry...).

`client.RegistryClient` (one for as long as its owner pulls: connections and tokens are reused),
`source.RegistrySource` (an `ImageSource`) and `source.resolve`, `blobcache.BlobCache`, the
credential stores of `auth`, and `options.RegistryOptions`; references are those of
`basewatch.oci.reference`.
httpx is imported only when a registry is actually contacted (by `client`).
"""
