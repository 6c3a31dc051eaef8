FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y \
        curl \
        # a comment inside the continued instruction is dropped

        ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV A=1 \
    B="two words"
LABEL org.example.name="demo" \	
      org.example.version=1
EXPOSE 80/tcp 443
USER 1000:1000
VOLUME ["/data"]
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-c"]
CMD echo done
