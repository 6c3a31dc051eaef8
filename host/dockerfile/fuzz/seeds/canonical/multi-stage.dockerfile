# Build, then copy from stages by name, by number and from an image.
ARG VERSION=1.2
ARG REGISTRY
FROM --platform=linux/amd64 team/builder:1 AS build
WORKDIR /src
COPY --chown=1000:1000 . .
RUN make VERSION=$VERSION
FROM registry.example:5000/team/tools@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef as Tools
FROM build
RUN make test
from scratch
COPY --from=build /src/out /app
COPY --from=1 /usr/bin/tool /bin/tool
COPY --from=tools /etc/ssl /etc/ssl
COPY --from=busybox:1.36 /bin/busybox /bin/busybox
ENTRYPOINT ["/app"]
