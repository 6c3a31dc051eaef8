# shellcheck shell=bash
# Functions shared by dockwright's scripts. Source this file; do not run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Settings (environment):
#   DOCKWRIGHT_STATE  where the dockerd we start keeps its log and pid file (default /tmp)

# The repository root: this file lives in <root>/scripts.
DOCKWRIGHT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKWRIGHT_STATE="${DOCKWRIGHT_STATE:-/tmp}"
DOCKERD_LOG="$DOCKWRIGHT_STATE/dockerd.log"
DOCKERD_PIDFILE="$DOCKWRIGHT_STATE/dockerd.pid"
# Set to the pid of the dockerd this shell started, and only then.
DOCKWRIGHT_ENGINE_STARTED_PID=""

# rustup installs cargo into ~/.cargo/bin, which a fresh shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    source "$HOME/.cargo/env"
fi

# Print a section header.
section() {
    printf '\n==> %s\n' "$*"
}

# Print a message on stderr.
note() {
    printf '%s\n' "$*" >&2
}

# Print a message on stderr and exit.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $*"
    fi
}

# Does an engine answer `docker version` within 5 seconds?
engine_answers() {
    timeout 5 docker version >/dev/null 2>&1
}

# Is this process alive? (Works for other users' processes too, and says no for a zombie.)
pid_alive() {
    [[ -n "$1" && -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Install the Debian packages and the Rust target the project needs, each only when missing.
ensure_prereqs() {
    local packages=()
    command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
    test -x /bin/busybox || packages+=(busybox-static)
    # The OCI registry the sharing tests push plugins and images to.
    command -v docker-registry >/dev/null 2>&1 || packages+=(docker-registry)
    # Certificates for the test registry that must be reached over TLS.
    command -v openssl >/dev/null 2>&1 || packages+=(openssl)
    # The test engine beside the main one gets a bridge of its own.
    command -v ip >/dev/null 2>&1 || packages+=(iproute2)
    # The browser test of the team's page: headless Chromium driven by chromedriver.
    command -v chromium >/dev/null 2>&1 || packages+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
    # The release's static binary (musl's C compiler) and its units (systemd-analyze verify).
    command -v musl-gcc >/dev/null 2>&1 || packages+=(musl-tools)
    command -v systemd-analyze >/dev/null 2>&1 || packages+=(systemd)
    command -v readelf >/dev/null 2>&1 || packages+=(binutils)
    polyglot_packages
    packages+=("${POLYGLOT_PACKAGES[@]}")
    if ((${#packages[@]} > 0)); then
        section "Installing ${packages[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get update -q </dev/null
        as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -q --no-install-recommends \
            "${packages[@]}" </dev/null
    fi
    check_polyglot_tools
    command -v rustup >/dev/null 2>&1 || die "rustup not found: install Rust from https://rustup.rs"
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        section "Adding the Rust target wasm32-wasip2"
        rustup target add wasm32-wasip2
    fi
}

# Make sure a Docker engine answers. Use one that already does; otherwise start dockerd in the
# background, listening on the default unix socket and on tcp://127.0.0.1:2375, and remember
# that we started it (see stop_engine_if_started).
ensure_engine() {
    if engine_answers; then
        note "Docker engine: already running"
        return 0
    fi
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found: apt-get install docker.io"
    mkdir -p "$DOCKWRIGHT_STATE"

    # dockerd refuses to start while /var/run/docker.pid names another process. A file left by
    # a dead dockerd is stale: remove it. A live one is an engine still starting: wait for it.
    local other_pid=""
    if [[ -f /var/run/docker.pid ]]; then
        other_pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
        if pid_alive "$other_pid"; then
            note "Docker engine: dockerd (pid $other_pid) is running but not answering yet; waiting"
        else
            note "Docker engine: removing stale /var/run/docker.pid (pid ${other_pid:-?} is gone)"
            as_root rm -f /var/run/docker.pid
            other_pid=""
        fi
    fi

    if [[ -z "$other_pid" ]]; then
        section "Starting dockerd (log: $DOCKERD_LOG)"
        local sudo=()
        [[ $EUID -eq 0 ]] || sudo=(sudo)
        # With job control on, the engine gets a process group of its own: a Ctrl-C that stops
        # this script does not reach it. It is started directly (no wrapper), so $! is its pid.
        # --tls=false: the loopback tcp listener is meant to have no TLS; saying so spares the
        # pause dockerd takes when it has to guess.
        local job_control_was_on=false
        [[ $- == *m* ]] && job_control_was_on=true
        set -m
        nohup "${sudo[@]}" dockerd \
            -H unix:///var/run/docker.sock \
            -H tcp://127.0.0.1:2375 \
            --tls=false \
            >>"$DOCKERD_LOG" 2>&1 </dev/null &
        DOCKWRIGHT_ENGINE_STARTED_PID=$!
        $job_control_was_on || set +m
        echo "$DOCKWRIGHT_ENGINE_STARTED_PID" >"$DOCKERD_PIDFILE"
    fi

    local waited=0
    until engine_answers; do
        if [[ -n "$DOCKWRIGHT_ENGINE_STARTED_PID" ]] && ! pid_alive "$DOCKWRIGHT_ENGINE_STARTED_PID"; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            rm -f "$DOCKERD_PIDFILE"
            DOCKWRIGHT_ENGINE_STARTED_PID=""
            die "dockerd exited during start-up; see $DOCKERD_LOG"
        fi
        if ((waited >= 60)); then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "the Docker engine did not answer within 60 s; see $DOCKERD_LOG"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    if [[ -n "$DOCKWRIGHT_ENGINE_STARTED_PID" ]]; then
        note "Docker engine: started dockerd, pid $DOCKWRIGHT_ENGINE_STARTED_PID (pid file $DOCKERD_PIDFILE)"
    else
        note "Docker engine: answering"
    fi
}

# Stop the dockerd that ensure_engine started in this shell, if it did: SIGTERM, up to 20 s to
# finish, then SIGKILL. An engine someone else started is left alone.
stop_engine_if_started() {
    local pid="$DOCKWRIGHT_ENGINE_STARTED_PID"
    [[ -n "$pid" ]] || return 0
    DOCKWRIGHT_ENGINE_STARTED_PID=""
    if pid_alive "$pid"; then
        section "Stopping dockerd (pid $pid)"
        as_root kill -TERM "$pid" 2>/dev/null || true
        local waited=0
        while pid_alive "$pid" && ((waited < 20)); do
            sleep 1
            waited=$((waited + 1))
        done
        if pid_alive "$pid"; then
            note "dockerd (pid $pid) did not stop within 20 s; killing it"
            as_root kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DOCKERD_PIDFILE"
}

# Build the example plugins (plugins/) for wasm32-wasip2, release.
build_example_plugins() {
    local manifest="$DOCKWRIGHT_ROOT/plugins/Cargo.toml"
    if [[ -f "$manifest" ]]; then
        section "Building the example plugins"
        cargo build --release --target wasm32-wasip2 --manifest-path "$manifest"
    else
        note "no $manifest: skipping the example plugins"
    fi
}

# Build the plugins the integration tests use (host/tests/plugins/) for wasm32-wasip2, release.
build_test_plugins() {
    section "Building the test plugins"
    cargo build --release --target wasm32-wasip2 \
        --manifest-path "$DOCKWRIGHT_ROOT/host/tests/plugins/Cargo.toml"
}

# Build every plugin workspace.
build_plugins() {
    build_example_plugins
    build_test_plugins
}

# --- The Python and JavaScript example plugins (plugins/python, plugins/js) -----------------
#
# Tool versions are pinned here and in plugins/js/team-env-js/package-lock.json.
COMPONENTIZE_PY_VERSION=0.25.1
# Where build_polyglot_plugins puts image_tools_py.wasm and team_env_js.wasm.
POLYGLOT_OUT="$DOCKWRIGHT_ROOT/plugins/target/polyglot"
POLYGLOT_VENV="$DOCKWRIGHT_ROOT/plugins/python/.venv"
PYTHON_PLUGIN_DIR="$DOCKWRIGHT_ROOT/plugins/python/image-tools-py"
JS_PLUGIN_DIR="$DOCKWRIGHT_ROOT/plugins/js/team-env-js"

# Set POLYGLOT_PACKAGES to the Debian packages the polyglot builds need and this machine lacks:
# a Python 3 that can make a venv with pip, and Node.js with npm.
polyglot_packages() {
    POLYGLOT_PACKAGES=()
    command -v python3 >/dev/null 2>&1 || POLYGLOT_PACKAGES+=(python3)
    # Debian's python3 leaves venv and ensurepip to python3-venv; other Pythons have them.
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || POLYGLOT_PACKAGES+=(python3-venv)
    command -v node >/dev/null 2>&1 || POLYGLOT_PACKAGES+=(nodejs)
    command -v npm >/dev/null 2>&1 || POLYGLOT_PACKAGES+=(npm)
}

# componentize-js 0.23 needs Node.js 20 or newer (Debian 12's own nodejs is 18).
check_polyglot_tools() {
    local major
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    ((major >= 20)) || die "Node.js 20 or newer is needed to build plugins/js (found: $(node --version 2>/dev/null || echo none))"
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 ||
        die "python3 cannot make a venv with pip: apt-get install python3-venv"
}

# Is $1 missing, or older than any file below the other paths?
stale() {
    local target="$1"
    shift
    [[ ! -e "$target" ]] || [[ -n "$(find "$@" -type f -newer "$target" -not -path '*/__pycache__/*' -print -quit)" ]]
}

# The venv with componentize-py $COMPONENTIZE_PY_VERSION, made when missing or of another version.
ensure_componentize_py() {
    local tool="$POLYGLOT_VENV/bin/componentize-py"
    if [[ -x "$tool" ]] && [[ "$("$tool" --version 2>/dev/null)" == "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
        return 0
    fi
    section "Installing componentize-py $COMPONENTIZE_PY_VERSION into $POLYGLOT_VENV"
    python3 -m venv "$POLYGLOT_VENV" || die "python3 -m venv $POLYGLOT_VENV failed"
    "$POLYGLOT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION" || die "pip install componentize-py failed"
}

# node_modules of the JS plugin as its package-lock.json pins them, when not yet so.
#
# `npm install --no-save`, not `npm ci`: the lock cannot list some platform binaries that
# rolldown and jco-node-fs name as optional but never published (other OSes' builds), and
# `npm ci` refuses such a lock as "out of sync". `npm install` installs the locked versions
# (checked against the lock's integrity hashes) and --no-save keeps it from rewriting the lock.
ensure_componentize_js() {
    # npm writes node_modules/.package-lock.json on every install: older than the lock, or
    # missing, means node_modules does not match the lock.
    if stale "$JS_PLUGIN_DIR/node_modules/.package-lock.json" \
        "$JS_PLUGIN_DIR/package.json" "$JS_PLUGIN_DIR/package-lock.json"; then
        section "Installing the JS plugin's build tools (npm install in $JS_PLUGIN_DIR)"
        (cd "$JS_PLUGIN_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error) ||
            die "npm install in $JS_PLUGIN_DIR failed"
    fi
}

# The OpenID provider the sign-in tests start (oidc-provider, pinned in its package-lock.json).
OIDC_FIXTURE_DIR="$DOCKWRIGHT_ROOT/host/tests/oidc"
ensure_oidc_provider() {
    if stale "$OIDC_FIXTURE_DIR/node_modules/.package-lock.json" \
        "$OIDC_FIXTURE_DIR/package.json" "$OIDC_FIXTURE_DIR/package-lock.json"; then
        section "Installing the test OpenID provider (npm ci in $OIDC_FIXTURE_DIR)"
        (cd "$OIDC_FIXTURE_DIR" && npm ci --no-audit --no-fund --loglevel=error) ||
            die "npm ci in $OIDC_FIXTURE_DIR failed"
    fi
}

# Build the Python and JavaScript example plugins into $POLYGLOT_OUT; each is rebuilt only when
# its sources, the WIT or its tools changed. Each takes 10-20 s (CPython or SpiderMonkey goes
# into the component: 18 MB and 12 MB).
build_polyglot_plugins() {
    check_polyglot_tools
    ensure_componentize_py
    ensure_componentize_js
    mkdir -p "$POLYGLOT_OUT"
    local wit="$DOCKWRIGHT_ROOT/wit"
    local start

    local py_out="$POLYGLOT_OUT/image_tools_py.wasm"
    if stale "$py_out" "$PYTHON_PLUGIN_DIR/src" "$PYTHON_PLUGIN_DIR/build.sh" "$wit" "$POLYGLOT_VENV/pyvenv.cfg"; then
        section "Building the Python plugin (componentize-py $COMPONENTIZE_PY_VERSION)"
        start=$SECONDS
        "$PYTHON_PLUGIN_DIR/build.sh" "$py_out.tmp" || die "building the Python plugin failed"
        mv -f "$py_out.tmp" "$py_out"
        note "built $py_out in $((SECONDS - start)) s"
    else
        note "up to date: $py_out"
    fi

    local js_out="$POLYGLOT_OUT/team_env_js.wasm"
    if stale "$js_out" "$JS_PLUGIN_DIR/src" "$JS_PLUGIN_DIR/build.mjs" "$wit" \
        "$JS_PLUGIN_DIR/node_modules/.package-lock.json"; then
        section "Building the JavaScript plugin (componentize-js, pinned in package-lock.json)"
        start=$SECONDS
        (cd "$JS_PLUGIN_DIR" && node build.mjs "$js_out.tmp") || die "building the JavaScript plugin failed"
        mv -f "$js_out.tmp" "$js_out"
        note "built $js_out in $((SECONDS - start)) s"
    else
        note "up to date: $js_out"
    fi
}

# The polyglot plugins' own unit tests (host imports faked; no engine, no wasm): a second each.
test_polyglot_plugins() {
    section "Unit tests of the Python plugin (unittest)"
    (cd "$PYTHON_PLUGIN_DIR" && PYTHONDONTWRITEBYTECODE=1 "$POLYGLOT_VENV/bin/python" -m unittest discover -s tests) ||
        die "the Python plugin's unit tests failed"
    section "Unit tests of the JavaScript plugin (node --test)"
    (cd "$JS_PLUGIN_DIR" && npm test --silent) || die "the JavaScript plugin's unit tests failed"
}

# --- The Dockerfile parser's fuzz target (host/dockerfile/fuzz) ---------------------------
#
# cargo-fuzz, pinned; .ci/run installs it into $CARGO_FUZZ_ROOT and exports its path in
# DOCKWRIGHT_CARGO_FUZZ. It runs on the stable toolchain with `--sanitizer none`.
CARGO_FUZZ_VERSION=0.13.2
CARGO_FUZZ_ROOT="$DOCKWRIGHT_ROOT/target/cargo-fuzz"
FUZZ_DIR="$DOCKWRIGHT_ROOT/host/dockerfile/fuzz"

# Set CARGO_FUZZ to a cargo-fuzz to run: $DOCKWRIGHT_CARGO_FUZZ, else the one in
# $CARGO_FUZZ_ROOT, else `cargo-fuzz` on PATH; empty when there is none.
find_cargo_fuzz() {
    CARGO_FUZZ=""
    if [[ -n "${DOCKWRIGHT_CARGO_FUZZ:-}" ]]; then
        [[ -x "$DOCKWRIGHT_CARGO_FUZZ" ]] || die "DOCKWRIGHT_CARGO_FUZZ=$DOCKWRIGHT_CARGO_FUZZ is not an executable"
        CARGO_FUZZ="$DOCKWRIGHT_CARGO_FUZZ"
    elif [[ -x "$CARGO_FUZZ_ROOT/bin/cargo-fuzz" ]]; then
        CARGO_FUZZ="$CARGO_FUZZ_ROOT/bin/cargo-fuzz"
    elif command -v cargo-fuzz >/dev/null 2>&1; then
        CARGO_FUZZ="$(command -v cargo-fuzz)"
    fi
}

# Install cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_ROOT when it is missing or of another
# version (a minute or two: it is built from crates.io).
install_cargo_fuzz() {
    if [[ "$("$CARGO_FUZZ_ROOT/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
        cargo install --locked --quiet --force cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$CARGO_FUZZ_ROOT"
    fi
}

# Fuzz the Dockerfile parser and canonical writer for $1 seconds: the seeds (tracked) and the
# corpus it grows (ignored) as its inputs. A crash or a failed property stops it with its input
# in $FUZZ_DIR/artifacts/canonical/ and returns non-zero. The whole log goes to a file; what is
# shown leaves out libFuzzer's status line for each new input (thousands in 30 s).
run_fuzz_target() {
    local seconds="$1"
    local log="$FUZZ_DIR/target/canonical.log"
    mkdir -p "$FUZZ_DIR/corpus/canonical" "$FUZZ_DIR/target"
    note "building the fuzz target and fuzzing; the whole log: $log"
    local status=0
    (cd "$FUZZ_DIR" && "$CARGO_FUZZ" run --sanitizer none canonical corpus/canonical seeds/canonical -- \
        -dict=canonical.dict -max_total_time="$seconds" -timeout=10 -print_final_stats=1) >"$log" 2>&1 ||
        status=$?
    grep -v -E '^#[0-9]+[[:space:]]|^"|Failed to find function "__sanitizer' "$log" || true
    return "$status"
}

# --- The HTTP API checked by clients nobody here wrote (openapi-spec-validator, schemathesis) --
#
# Pinned; installed into their own venv under target/ when missing or of another version.
SCHEMATHESIS_VERSION=4.32.0
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
API_CHECK_VENV="$DOCKWRIGHT_ROOT/target/api-check-venv"
# How many examples schemathesis generates per operation and phase, and how long it may take.
API_CHECK_EXAMPLES="${DOCKWRIGHT_API_CHECK_EXAMPLES:-60}"
API_CHECK_SECONDS=600

ensure_api_checkers() {
    local want="schemathesis==$SCHEMATHESIS_VERSION openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
    if [[ -f "$API_CHECK_VENV/pinned" ]] && [[ "$(cat "$API_CHECK_VENV/pinned")" == "$want" ]]; then
        return 0
    fi
    section "Installing $want into $API_CHECK_VENV"
    rm -rf "$API_CHECK_VENV"
    python3 -m venv "$API_CHECK_VENV" || die "python3 -m venv $API_CHECK_VENV failed"
    # shellcheck disable=SC2086 # two requirements, split on purpose
    "$API_CHECK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check $want ||
        die "pip install $want failed"
    echo "$want" >"$API_CHECK_VENV/pinned"
}

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start `dockwright serve` (the release binary) with the example plugins and a team of its own,
# check /openapi.json with openapi-spec-validator and run schemathesis against it with the
# team's token, all checks on; then stop the server and remove what the runs made.
check_api_with_third_party_clients() {
    ensure_api_checkers
    local bin="$DOCKWRIGHT_ROOT/target/release/dockwright"
    [[ -x "$bin" ]] || die "no $bin: build it first (cargo build --release -p dockwright)"
    local dir team port token pid status=0
    dir="$(mktemp -d)"
    team="apicheck$$"
    port="$(free_port)"
    mkdir -p "$dir/plugins"
    local wasm
    for wasm in team_env inventory figlet; do
        cp "$DOCKWRIGHT_ROOT/plugins/target/wasm32-wasip2/release/$wasm.wasm" "$dir/plugins/" ||
            die "no example plugin $wasm.wasm: build the example plugins first"
    done
    cat >"$dir/dockwright.toml" <<TOML
journal = "$dir/journal.db"

[teams.$team]
images = ["dockwright/*"]
max_containers = 4
TOML
    token="$(DOCKWRIGHT_CONFIG="$dir/dockwright.toml" "$bin" token new "$team" 2>/dev/null | tail -n 1)"
    [[ "$token" == dwt_* ]] || die "dockwright token new did not print a token"

    section "The HTTP API, checked by openapi-spec-validator and schemathesis (http://127.0.0.1:$port)"
    DOCKWRIGHT_CONFIG="$dir/dockwright.toml" XDG_STATE_HOME="$dir/state" \
        "$bin" serve --listen "127.0.0.1:$port" --plugins "$dir/plugins" >"$dir/serve.log" 2>&1 &
    pid=$!
    local tries=0
    until curl -fsS --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if ((tries > 120)) || ! pid_alive "$pid"; then
            cat "$dir/serve.log" >&2
            kill "$pid" 2>/dev/null || true
            die "dockwright serve did not answer on 127.0.0.1:$port"
        fi
        sleep 0.5
    done
    curl -fsS "http://127.0.0.1:$port/openapi.json" -o "$dir/openapi.json" || status=1
    if ((status == 0)); then
        "$API_CHECK_VENV/bin/openapi-spec-validator" "$dir/openapi.json" || status=1
    fi
    # Every check but one, which asks what the API does not mean: `DELETE /v1/runs/{id}`
    # tears down the run's environment (its containers), not the run. A run is an audit
    # record: it stays readable, marked `torn_down` with when and what went, and a second
    # DELETE says so. `use_after_free` (ST301) expects a deleted path to answer 404 or 410.
    if ((status == 0)); then
        timeout "$API_CHECK_SECONDS" "$API_CHECK_VENV/bin/schemathesis" \
            --config-file "$DOCKWRIGHT_ROOT/scripts/schemathesis.toml" run \
            "http://127.0.0.1:$port/openapi.json" \
            -H "Authorization: Bearer $token" \
            --checks all --exclude-checks use_after_free \
            --max-examples "$API_CHECK_EXAMPLES" --seed 1 \
            --request-timeout 60 --no-color || status=1
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # What the runs made: their containers and the team's network (a failed run rolled back).
    local left
    left="$(docker ps -aq --filter "label=dockwright.team=$team" 2>/dev/null || true)"
    [[ -z "$left" ]] || docker rm -f $left >/dev/null 2>&1 || true
    left="$(docker network ls -q --filter "label=dockwright.network=$team" 2>/dev/null || true)"
    [[ -z "$left" ]] || docker network rm $left >/dev/null 2>&1 || true
    if ((status != 0)); then
        echo "--- the server's log (last 40 lines) ---" >&2
        tail -n 40 "$dir/serve.log" >&2
    fi
    rm -rf "$dir"
    ((status == 0)) || die "the HTTP API failed a third-party client's check (above)"
}

# --- The static binary and what is made of it (scripts/release, and the tests of both) -------

STATIC_TARGET=x86_64-unknown-linux-musl
# The static build shares target/ with the test build (build scripts and proc macros are
# built once for both); DOCKWRIGHT_STATIC_TARGET_DIR gives it a folder of its own, so it
# can run while another build holds target/.
STATIC_TARGET_DIR="${DOCKWRIGHT_STATIC_TARGET_DIR:-$DOCKWRIGHT_ROOT/target}"
STATIC_BINARY="$STATIC_TARGET_DIR/$STATIC_TARGET/release/dockwright"

static_binary() { "$STATIC_BINARY" "$@"; }

# Build the static binary: musl's C compiler for the C parts (ring, SQLite), the Rust
# target, and flags that keep the build machine out of the bytes.
build_static() {
    command -v musl-gcc >/dev/null 2>&1 || {
        section "Installing musl-tools (the C compiler for the static build)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends musl-tools </dev/null
    }
    rustup target list --installed | grep -qx "$STATIC_TARGET" || rustup target add "$STATIC_TARGET"
    section "The static binary ($STATIC_TARGET)"
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}" \
        CARGO_TARGET_DIR="$STATIC_TARGET_DIR" \
        CC_x86_64_unknown_linux_musl=musl-gcc \
        CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols --remap-path-prefix=$DOCKWRIGHT_ROOT=/build --remap-path-prefix=$cargo_home=/cargo" \
        cargo build --release --locked --target "$STATIC_TARGET" -p dockwright --bin dockwright
    # A static executable has no program interpreter (no dynamic loader named in it).
    if LC_ALL=C readelf -l "$STATIC_BINARY" 2>/dev/null | grep -q "Requesting program interpreter"; then
        die "$STATIC_BINARY is not statically linked"
    fi
}

# Build the image `tag` from the static binary `bin`: FROM scratch, the binary, the CA
# certificates and an empty /tmp (plans and replays make scratch folders there).
build_image() {
    local bin="$1" tag="$2" ctx
    ctx="$(mktemp -d)"
    cp "$bin" "$ctx/dockwright"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
    mkdir -p "$ctx/tmp" "$ctx/plugins" && chmod 1777 "$ctx/tmp"
    cp "$DOCKWRIGHT_ROOT/packaging/Dockerfile" "$ctx/Dockerfile"
    docker build -q -t "$tag" "$ctx" >/dev/null || { rm -rf "$ctx"; die "docker build of $tag failed"; }
    rm -rf "$ctx"
    note "built image $tag"
}

# --- The Windows build (x86_64-pc-windows-gnu), run here under wine ----------------------------

WINDOWS_TARGET=x86_64-pc-windows-gnu
# Shares target/ with the test build, as the static build does (build scripts and proc macros
# built once); DOCKWRIGHT_WINDOWS_TARGET_DIR gives it a folder of its own.
WINDOWS_TARGET_DIR="${DOCKWRIGHT_WINDOWS_TARGET_DIR:-$DOCKWRIGHT_ROOT/target}"
WINDOWS_BINARY="$WINDOWS_TARGET_DIR/$WINDOWS_TARGET/release/dockwright.exe"
# wine's own prefix and the ProcessPrng shim: the build's, never the user's ~/.wine.
export WINEPREFIX="${WINEPREFIX:-$DOCKWRIGHT_ROOT/target/wine-prefix}"
export WINEDEBUG="${WINEDEBUG:--all}"
WINE_SHIM="$DOCKWRIGHT_ROOT/target/wine-shim/bcryptprimitives.dll"
# Debian's wine64 (8.0); /usr/bin/wine wants wine32 as well, which a 64-bit build needs not.
WINE="${WINE:-/usr/lib/wine/wine64}"

# MinGW (the linker, and the C compiler of ring and SQLite), wine and the Rust target.
ensure_windows_tools() {
    local packages=()
    command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || packages+=(gcc-mingw-w64-x86-64)
    [[ -x "$WINE" ]] || packages+=(wine64)
    command -v zip >/dev/null 2>&1 || packages+=(zip)
    command -v unzip >/dev/null 2>&1 || packages+=(unzip)
    if ((${#packages[@]})); then
        section "Installing ${packages[*]} (the Windows build and wine)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" </dev/null
    fi
    rustup target list --installed | grep -qx "$WINDOWS_TARGET" || rustup target add "$WINDOWS_TARGET"
}

# A wine prefix of the build's own, made once, with the ProcessPrng shim built from its source.
ensure_wine_prefix() {
    if [[ ! -f "$WINE_SHIM" || "$DOCKWRIGHT_ROOT/host/tests/wine/bcryptprimitives.c" -nt "$WINE_SHIM" ]]; then
        mkdir -p "$(dirname "$WINE_SHIM")"
        x86_64-w64-mingw32-gcc -shared -O2 -o "$WINE_SHIM" \
            "$DOCKWRIGHT_ROOT/host/tests/wine/bcryptprimitives.c" -ladvapi32 ||
            die "cannot build the wine shim (host/tests/wine/bcryptprimitives.c)"
    fi
    if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
        mkdir -p "$WINEPREFIX"
        "$(dirname "$WINE")/wineserver" -k 2>/dev/null || true
        WINEDLLOVERRIDES="mscoree,mshtml=" "$WINE" wineboot --init >/dev/null 2>&1 ||
            die "cannot make the wine prefix $WINEPREFIX"
    fi
}

# cargo for the Windows target, in its target folder, with the machine's paths kept out
# of the binary (as in the static build).
windows_cargo() {
    local command="$1" cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    shift
    SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}" \
        CARGO_TARGET_DIR="$WINDOWS_TARGET_DIR" \
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-C strip=symbols --remap-path-prefix=$DOCKWRIGHT_ROOT=/build --remap-path-prefix=$cargo_home=/cargo" \
        cargo "$command" --release --locked --target "$WINDOWS_TARGET" -p dockwright "$@"
}

# The Windows binary, as the release ships it.
build_windows() {
    ensure_windows_tools
    section "The Windows binary ($WINDOWS_TARGET)"
    windows_cargo build --bin dockwright
}

# cargo for the Windows tests: the host's own code compiled by clippy-driver (lints
# while it compiles; the dependencies by rustc as always), so the Windows-only code is
# linted with no check build of the tree beside the real one.
windows_test_cargo() {
    local driver
    driver="$(dirname "$(rustup which cargo)")/clippy-driver"
    [[ -x "$driver" ]] || die "no clippy-driver beside cargo: rustup component add clippy"
    RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" \
        windows_cargo "$@"
}

# The host's unit tests for Windows and the Windows binary, from one build: cargo builds
# the binary for the (on Windows empty) integration test crate, with the test build's
# features, so the dependencies are compiled once for both (a separate `cargo build` has
# other features of tokio and the rest, and compiles most of the tree again). Linted as
# it compiles (-D warnings).
build_windows_for_tests() {
    ensure_windows_tools
    section "The Windows binary and unit tests ($WINDOWS_TARGET), linted"
    windows_test_cargo test --no-run --lib --test integration
}

# The host's unit tests, run under wine (the target's runner is scripts/wine-run).
test_windows_units() {
    section "The host's unit tests on Windows (under wine)"
    ensure_wine_prefix
    windows_test_cargo test --lib
}

# The workspace's version, as Cargo.toml gives it (the Windows binary cannot say it here
# without wine).
workspace_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$DOCKWRIGHT_ROOT/Cargo.toml" | head -n 1
}

# Zip the Windows binary with the README as dockwright-VERSION-x86_64-windows.zip in `dist`,
# with a .sha256: file times are the commit's, and no owner or extra fields, so the same
# commit gives the same bytes.
windows_zip() {
    local version="$1" dist="$2" stage name
    name="dockwright-$version-x86_64-windows"
    stage="$(mktemp -d)"
    mkdir -p "$stage/$name" "$dist"
    cp "$WINDOWS_BINARY" "$stage/$name/dockwright.exe"
    cp "$DOCKWRIGHT_ROOT/README.md" "$stage/$name/README.md"
    touch -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}" \
        "$stage/$name" "$stage/$name"/*
    rm -f "$dist/$name.zip"
    (cd "$stage" && TZ=UTC zip -q -X -r "$dist/$name.zip" "$name/dockwright.exe" "$name/README.md")
    rm -rf "$stage"
    (cd "$dist" && sha256sum "$name.zip" >"$name.zip.sha256")
    WINDOWS_ZIP="$dist/$name.zip"
    note "$WINDOWS_ZIP"
}
