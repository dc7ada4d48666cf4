#
# In the style of the official python image: build CPython from source on a slim Debian base.
#
FROM debian:bookworm-slim

ENV PATH /usr/local/bin:$PATH
ENV LANG C.UTF-8

RUN set -eux; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		ca-certificates \
		netbase \
		tzdata \
	; \
	rm -rf /var/lib/apt/lists/*

ENV GPG_KEY A035C8C19219BA821ECEA86B64E628F8D684696D
ENV PYTHON_VERSION 3.12.7

RUN set -eux; \
	\
	savedAptMark="$(apt-mark showmanual)"; \
	apt-get update; \
	apt-get install -y --no-install-recommends \
		dpkg-dev \
		gcc \
		gnupg \
		libbz2-dev \
		libssl-dev \
		make \
		wget \
		xz-utils \
		zlib1g-dev \
	; \
	wget -O python.tar.xz "https://www.python.example.test/ftp/python/${PYTHON_VERSION%%[a-z]*}/Python-$PYTHON_VERSION.tar.xz"; \
	mkdir -p /usr/src/python; \
	tar --extract --directory /usr/src/python --strip-components=1 --file python.tar.xz; \
	rm python.tar.xz; \
	cd /usr/src/python; \
	./configure --enable-optimizations --with-ensurepip; \
	make -j "$(nproc)"; \
	make install; \
	apt-mark auto '.*' > /dev/null; \
	apt-mark manual $savedAptMark; \
	apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false; \
	rm -rf /var/lib/apt/lists/*; \
	python3 --version

CMD ["python3"]
