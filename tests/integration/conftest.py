"""Fixtures for the integration tests: real Debian images, built once and cached (images.py).

Building needs root and mmdebstrap, umoci and skopeo (`./dev test` installs them). Where they
are missing the image tests are skipped with the reason, except under CI (`CI=true`), where a
missing tool is a broken setup and fails the test instead of hiding behind a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration import images
from tests.integration.images import BuildImage


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI must be able to build the test images)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def image_cache() -> Path:
    """Where built images live across test runs ($BASEWATCH_TEST_IMAGE_CACHE to move it)."""
    return images.cache_root()


@pytest.fixture(scope="session")
def build_image(image_cache: Path) -> BuildImage:
    """A function that returns a recipe's image, building it on first use in any run."""
    built: dict[str, images.BuiltImage] = {}
    failed: dict[str, str] = {}

    def get(recipe: images.Recipe) -> images.BuiltImage:
        if recipe.name in built:
            return built[recipe.name]
        if recipe.name in failed:  # one failed build is enough: don't retry it for every test
            pytest.fail(failed[recipe.name], pytrace=False)
        try:
            image = images.build(recipe, image_cache)
        except images.MissingPrerequisites as exc:
            _unavailable(str(exc))
            raise  # not reached: _unavailable skips or fails
        except images.BuildError as exc:
            failed[recipe.name] = f"building test image {recipe.name} failed: {exc}"
            pytest.fail(failed[recipe.name], pytrace=False)
        built[recipe.name] = image
        return image

    return get


@pytest.fixture(scope="session")
def multi_image_archive(build_image: BuildImage, image_cache: Path) -> images.MultiImageArchive:
    """A docker-archive with bookworm-minbase and trixie-minbase inside, as `docker save` makes."""
    members = [build_image(images.BOOKWORM_MINBASE), build_image(images.TRIXIE_MINBASE)]
    return images.build_multi_image_archive(members, image_cache)
