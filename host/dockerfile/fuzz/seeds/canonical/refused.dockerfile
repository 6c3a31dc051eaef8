# Refused: a heredoc, and an image named by a variable.
FROM alpine AS a
RUN <<EOF
echo heredoc
EOF
COPY --from=$IMAGE / /
