# syntax=docker/dockerfile:1.4
FROM ubuntu:22.04

RUN <<EOF
set -eux
apt-get update
apt-get upgrade -y
apt-get install -y curl jq
EOF

COPY <<EOF /etc/app/config.toml
[server]
port = 8080
# FROM python:2.7 is just text here
EOF

RUN <<-SCRIPT bash
	echo "tabs are stripped"
	apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
	SCRIPT

RUN python3 - <<'PY'
print("apt-get dist-upgrade in a string does not count")
PY
USER 1001
