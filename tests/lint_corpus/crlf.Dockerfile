# Saved on Windows: every line ends in CRLF
FROM python:3.9-windowsservercore AS win
FROM node:18-bullseye-slim
RUN apt-get update && \
    apt-get install -y curl
COPY . /app
CMD ["node", "/app/index.js"]
