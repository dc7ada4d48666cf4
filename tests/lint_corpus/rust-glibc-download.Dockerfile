FROM alpine:3.22
ARG VERSION=14.1.0
RUN wget -O /tmp/rg.tgz "https://releases.example.test/ripgrep-${VERSION}-x86_64-unknown-linux-gnu.tar.gz" \
 && tar -xzf /tmp/rg.tgz -C /usr/local/bin --strip-components=1
RUN pip install --only-binary=:all: --platform manylinux2014_x86_64 --target /opt/wheels numpy
RUN apk add git
USER 1000
