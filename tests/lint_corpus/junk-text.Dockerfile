This is not a Dockerfile at all: it is a README that someone named Dockerfile.
It has no FROM, only prose {{ template }} and $(shell) fragments.
