ARG REGISTRY=docker.io
ARG PYTHON_VERSION=3.11
ARG DISTRO=bookworm
ARG BASE_IMAGE=${REGISTRY}/library/python:${PYTHON_VERSION}-slim-${DISTRO}

FROM ${BASE_IMAGE} AS base
ENV PIP_NO_CACHE_DIR=1
RUN pip install --upgrade pip

FROM base AS deps
COPY requirements.txt .
RUN pip install -r requirements.txt

FROM base
COPY --from=deps /usr/local/lib/python${PYTHON_VERSION} /usr/local/lib/python${PYTHON_VERSION}
COPY . /app
ARG APP_USER
USER ${APP_USER}
CMD ["python", "/app/main.py"]
