FROM debian:bookworm-slim
ADD https://downloads.example.test/app-1.0.tar.gz /opt/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://downloads.example.test/app-1.1.tar.gz /opt/
ADD ["http://downloads.example.test/plain.txt", "/opt/plain.txt"]
ADD local.tar.gz /opt/local/
ADD git@git.example.test:team/repo.git /src
USER app
