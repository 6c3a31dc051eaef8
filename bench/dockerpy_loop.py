"""docker-py doing the benchmark's work, sequentially: one variant of bench/run.

For i in 1..N: create <prefix>-<i> from dockwright/web:latest with TEAM=bench and every exposed
port published, start it, reload it and read its published port. Then remove them all,
forced. Containers it made are removed even when a step fails.

    python dockerpy_loop.py --n N --prefix P
    {"ms": 12345.6, "provision_ms": 7000.1, "remove_ms": 5345.5, "n": 20}

The time runs from making the client (with its API version negotiation) to the last removal;
the interpreter's start and `import docker` are outside it (bench/run times the whole process).
"""

import argparse
import json
import sys
import time

import docker

IMAGE = "dockwright/web:latest"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args()

    started = time.perf_counter()
    # The engine here speaks API 1.41: negotiate instead of assuming the library's default.
    client = docker.from_env(version="auto")
    created = []
    try:
        for i in range(1, args.n + 1):
            name = f"{args.prefix}-{i}"
            container = client.containers.create(
                IMAGE,
                name=name,
                environment={"TEAM": "bench"},
                publish_all_ports=True,
            )
            created.append(container)
            container.start()
            container.reload()
            bindings = [b for bs in (container.ports or {}).values() for b in (bs or [])]
            if not any(b.get("HostPort") for b in bindings):
                raise RuntimeError(f"{name} has no published port")
        provision_ms = (time.perf_counter() - started) * 1e3
    finally:
        errors = []
        for container in created:
            try:
                container.remove(force=True)
            except docker.errors.APIError as e:
                errors.append(f"remove {container.name}: {e}")
        for e in errors:
            print(e, file=sys.stderr)
    if errors:
        return 1
    total_ms = (time.perf_counter() - started) * 1e3
    print(
        json.dumps(
            {
                "ms": round(total_ms, 3),
                "provision_ms": round(provision_ms, 3),
                "remove_ms": round(total_ms - provision_ms, 3),
                "n": args.n,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
