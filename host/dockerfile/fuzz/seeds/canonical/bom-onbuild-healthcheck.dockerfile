FROM team/base:1 AS base
ONBUILD COPY . /src
ONBUILD RUN make -C /src
onbuild ENV BUILT=1
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 CMD curl -f http://localhost/ || exit 1
FROM base
HEALTHCHECK NONE
MAINTAINER someone
ADD --chown=0:0 files.tar /srv/
