from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW108"


@pytest.mark.parametrize(
    ("text", "slim"),
    [
        ("FROM python:3.12\n", "python:3.12-slim"),
        ("FROM python:3.12-bookworm\n", "python:3.12-slim-bookworm"),
        ("FROM node:22-bookworm\n", "node:22-bookworm-slim"),
        ("FROM debian:bookworm\n", "debian:bookworm-slim"),
        ("FROM golang:1.23 AS b\nFROM python:3.12 AS base\nFROM base\n", "python:3.12-slim"),
        ("FROM python\n", "python:slim"),
    ],
)
def test_fires(text: str, slim: str) -> None:
    (finding,) = hits(text, RULE)
    assert finding.message.endswith(f"{slim} exists")


@pytest.mark.parametrize(
    "text",
    [
        "FROM python:3.12-slim\n",
        "FROM python:3.12-alpine\n",
        "FROM python:3.12 AS build\nFROM python:3.12-slim\n",  # full variant only to build
        "FROM golang:1.23\n",  # no slim variant
        "FROM registry.example.test/python:3.12\n",  # not the official image
        "FROM debian:bookworm-20240110\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []
