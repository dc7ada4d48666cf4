from __future__ import annotations

import pytest

from tests.unit.lint.helpers import hits

RULE = "BW106"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("FROM debian:buster\n", "Debian 10 (buster)"),
        ("FROM debian:10-slim\n", "Debian 10"),
        ("FROM ubuntu:18.04\n", "Ubuntu 18.04"),
        ("FROM ubuntu:bionic-20230530\n", "Ubuntu 18.04"),
        ("FROM alpine:3.15\n", "Alpine Linux 3.15"),
        ("FROM alpine:3.15.4\n", "Alpine Linux 3.15"),
        ("FROM python:3.8-slim\n", "Python 3.8"),
        ("FROM python:3.12-slim-buster\n", "Debian 10"),
        ("FROM node:16\n", "Node.js 16"),
        ("FROM node:gallium-alpine\n", "Node.js 16"),
        ("FROM node:22-alpine3.15\n", "Alpine Linux 3.15"),
        ("FROM golang:1.21-bookworm\n", "Go 1.21"),
        ("FROM eclipse-temurin:16-jre\n", "Java (Temurin) 16"),
        ("FROM openjdk:16-jdk-slim\n", "Java (Temurin) 16"),
        ("FROM nginx:1.22.1-alpine\n", "nginx 1.22"),
        ("FROM postgres:12.17\n", "PostgreSQL 12"),
        ("FROM postgres:9.6\n", "PostgreSQL 9.6"),
        ("ARG PY=3.7\nFROM python:${PY}\n", "Python 3.7"),
        ("FROM registry.example.test/mirror/python:3.6\n", "Python 3.6"),
    ],
)
def test_fires(text: str, what: str) -> None:
    messages = [f.message for f in hits(text, RULE)]
    assert any(what in m for m in messages), messages


@pytest.mark.parametrize(
    "text",
    [
        "FROM debian:bookworm\n",
        "FROM ubuntu:24.04\n",
        "FROM alpine:3.22\n",
        "FROM python:3.12-slim\n",
        "FROM python:3\n",  # floating
        "FROM node:lts\n",
        "FROM node:22\n",
        "FROM golang:1.25\n",
        "FROM postgres:17\n",
        "FROM busybox:1.36\n",
        "FROM scratch\n",
    ],
)
def test_does_not_fire(text: str) -> None:
    assert hits(text, RULE) == []


def test_on_the_day_it_ends() -> None:
    from datetime import date

    assert hits("FROM python:3.9\n", RULE, today=date(2025, 10, 30)) == []
    assert len(hits("FROM python:3.9\n", RULE, today=date(2025, 10, 31))) == 1
