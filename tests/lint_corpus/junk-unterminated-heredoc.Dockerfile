FROM alpine:3.22
RUN <<EOF
echo this heredoc never ends
