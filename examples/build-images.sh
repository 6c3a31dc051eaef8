#!/usr/bin/env bash
# Build the example images, offline:
#   dockwright/base:latest  busybox on scratch (the host's static /bin/busybox)
#   dockwright/web:latest   busybox httpd on port 80, from dockwright/base
# Both carry the label dockwright.example=true. Run it again at will: the layer cache makes a
# repeat build take about a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox=/bin/busybox
label=dockwright.example=true

if [[ ! -x $busybox ]]; then
    echo "error: $busybox not found; install it with: apt-get install busybox-static" >&2
    exit 1
fi
if ! file_type="$(od -An -N4 -tx1 "$busybox")" || [[ $file_type != " 7f 45 4c 46" ]]; then
    echo "error: $busybox is not an ELF binary" >&2
    exit 1
fi
if ! timeout 5 docker version >/dev/null 2>&1; then
    echo "error: no Docker engine answers 'docker version'" >&2
    echo "       (start one: source scripts/lib.sh && ensure_engine)" >&2
    exit 1
fi

# The base context needs the binary itself; copy it only when it changed, so the cache holds.
if ! cmp -s "$busybox" "$here/images/base/busybox"; then
    install -m 0755 "$busybox" "$here/images/base/busybox"
fi

build() {
    local tag=$1 dir=$2
    echo "==> docker build -t $tag $dir"
    # --force-rm: a step that fails (the engine's network gone, say) leaves no container.
    docker build --force-rm --label "$label" -t "$tag" "$dir"
}

build dockwright/base:latest "$here/images/base"
build dockwright/web:latest "$here/images/web"

docker images --filter "label=$label"
