#!/usr/bin/env bash
# Build image-tools-py into a component.
#
#   ./build.sh [OUT.wasm]      (default: image_tools_py.wasm here)
#
# Needs componentize-py 0.25.1 on PATH, or in ../.venv (see README.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(realpath -m "${1:-$here/image_tools_py.wasm}")"
wit="$(cd "$here/../../../wit" && pwd)"
tool=componentize-py
if [[ -x "$here/../.venv/bin/componentize-py" ]]; then
    tool="$here/../.venv/bin/componentize-py"
fi
command -v "$tool" >/dev/null || { echo "componentize-py not found: see README.md" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cd "$here"
"$tool" -d "$wit" -w plugin componentize app -p "$here/src" -o "$out"
