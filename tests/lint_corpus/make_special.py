"""Write the corpus files whose bytes an editor would mangle: CRLF endings, a BOM, binary junk.

.venv/bin/python tests/lint_corpus/make_special.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

CRLF = """\
# Saved on Windows: every line ends in CRLF
FROM python:3.9-windowsservercore AS win
FROM node:18-bullseye-slim
RUN apt-get update && \\
    apt-get install -y curl
COPY . /app
CMD ["node", "/app/index.js"]
"""


def main() -> None:
    (HERE / "crlf.Dockerfile").write_bytes(CRLF.replace("\n", "\r\n").encode())
    bom = "\ufeffFROM alpine:3.18\n# caf\xe9 in Latin-1 below\n"
    (HERE / "bom-latin1.Dockerfile").write_bytes(
        bom.encode("utf-8").replace("caf\xe9".encode(), b"caf\xe9") + b"USER nobody\n"
    )
    (HERE / "junk-binary.Dockerfile").write_bytes(bytes(range(256)) * 4)


if __name__ == "__main__":
    main()
