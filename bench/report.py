"""Turn what bench/run measured into a markdown report (stdout and a file), and check the targets.

    python3 report.py --dir RESULTS_DIR --n N --rounds R --j J --dockwright BIN --python VENV_PY
                      --out bench/results.md [--strict]

Reads from RESULTS_DIR, each file optional:
    workload.tsv   variant, round, ms, ok|failed         (one line per timed workload run)
    noop.json      hyperfine's export: a warm no-op run, then `dockwright --version`
    replay.json    hyperfine's export: a warm replay of each example plugin's cassette
    micro.json     the `micro` binary's output: compile against load per plugin
    calls.json     hyperfine's export: `run calls` with n=100000, then n=0
    rss.tsv        mode, peak RSS in KiB, wall ms, ok|failed
    journal-N.json hyperfine's export: `runs --limit 10`, `runs show` newest, oldest; N runs
    journal-rss.tsv runs in the journal, command, peak RSS in KiB
    journal-fill.tsv runs, ms to fill, database bytes
    requests.tsv   workflow, client (dockwright-cli, dockwright-serve, docker-cli), engine
                   requests, ok|failed                  (the second run of each, counted)
    requests-floor.tsv workflow, the least requests its work takes
    requests/W.K.txt the requests of workflow W by client K, grouped: "count METHOD /path STATUS"
    logs.json      hyperfine's export: `docker logs`, then dockwright's `run logs`, one container
    logs.tsv       reader, bytes it got, lines (dockwright's)
    service-logs.json, service-logs.tsv  the same for `docker service logs` and `run service-logs`
    skipped.txt    lines saying what was not measured and why
    failed.txt     lines saying what failed to measure

Exits 1 when a measurement failed, or with --strict when a target was missed. Standard library
only: it runs on the system's python3.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

CALLS = 100_000
EXAMPLE_PLUGINS = {"team_env.wasm", "image_tools.wasm", "inventory.wasm", "figlet.wasm"}


def sh(*cmd):
    """A command's stdout, stripped; '?' when it fails."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_tsv(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except OSError:
        return []


def machine(args):
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    server = sh("docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})")
    client = sh("docker", "version", "--format", "{{.Client.Version}}")
    commit = sh("git", "rev-parse", "--short", "HEAD")
    if sh("git", "status", "--porcelain", "--untracked-files=no") not in ("", "?"):
        commit += " + uncommitted changes"
    dockerpy = sh(args.python, "-c", "import docker; print(docker.__version__)")
    return [
        ("date", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("commit", commit),
        ("CPUs (nproc)", sh("nproc")),
        ("memory", mem),
        ("kernel", platform.release()),
        ("docker engine", server),
        ("docker CLI", client),
        ("dockwright", sh(args.dockwright, "--version")),
        ("docker-py", dockerpy),
        ("hyperfine", sh("hyperfine", "--version")),
    ]


def fmt_ms(ms):
    return "n/a" if ms is None else f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--j", type=int, required=True)
    p.add_argument("--dockwright", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--strict", action="store_true")
    args = p.parse_args()

    def d(name):
        return os.path.join(args.dir, name)

    lines = []
    out = lines.append
    failed_measurements = []
    targets = []  # (what, measured, verdict)

    def target(what, measured, ok, gap=None, within=0.0):
        """A target's verdict; a miss by less than the noise (`gap` < `within`) says so."""
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        if verdict == "MISS" and gap is not None and within > 0 and gap < within:
            verdict = f"MISS (by {gap * 100:.0f}%, within the ±{within * 100:.0f}% noise)"
        targets.append((what, measured, verdict))

    out("# dockwright benchmarks")
    out("")
    out("Written by `bench/run`; see `bench/README.md` for what each number means.")
    out("")
    out("## Machine")
    out("")
    out("| | |")
    out("|---|---|")
    for k, v in machine(args):
        out(f"| {k} | {v} |")
    out("")

    # ---- the workload
    rows = read_tsv(d("workload.tsv"))
    order = [
        "dockwright_seq",
        "dockwright_par",
        "cli_loop",
        "cli_xargs",
        "cli_xargs_net",
        "dockerpy",
        "bollard",
        "bollard_net",
    ]
    names = {
        "dockwright_seq": "dockwright `--each -j 1`",
        "dockwright_par": f"dockwright `--each -j {args.j}`",
        "cli_loop": "docker CLI, shell loop",
        "cli_xargs": f"docker CLI, `xargs -P {args.j}`",
        "cli_xargs_net": f"docker CLI, `xargs -P {args.j}`, user-defined bridge",
        "dockerpy": "docker-py, sequential",
        "bollard": "bollard loop (the floor)",
        "bollard_net": "bollard loop, user-defined bridge (the floor there)",
    }
    times, runs, fails = {}, {}, {}
    for variant, _round, ms, status in rows:
        runs[variant] = runs.get(variant, 0) + 1
        if status == "ok":
            times.setdefault(variant, []).append(float(ms))
        else:
            fails[variant] = fails.get(variant, 0) + 1
            if f"workload {variant}" not in failed_measurements:
                failed_measurements.append(f"workload {variant}")
    med = {v: statistics.median(t) for v, t in times.items()}
    floor = med.get("bollard")
    # dockwright's containers join their team's network, a user-defined bridge: the floor for
    # the same work there, and the targets compare with the variants on such a network.
    floor_net = med.get("bollard_net")
    # How much a variant's rounds differ, relative to its median (needs two rounds or more).
    spread = {v: (max(t) - min(t)) / med[v] for v, t in times.items() if len(t) > 1}

    def noise(*variants):
        """Half the largest relative spread of these variants, or 0 when unknown."""
        return max((spread.get(v, 0.0) for v in variants), default=0.0) / 2

    if rows:
        out(f"## Workload P_{args.n}")
        out("")
        out(
            f"Provision {args.n} containers (create from `dockwright/web:latest` with `TEAM=bench` "
            f"and every exposed port published, start, read the published port), then remove "
            f"them all. Wall-clock time of the whole, median of {args.rounds} round(s). "
            f"dockwright's containers join their team's network, a user-defined bridge; the "
            f"variants marked so do the same on a bridge network made for the run, the others "
            f"use the default bridge."
        )
        out("")
        out(
            "| variant | median ms | ms per container | ratio to bollard | ratio to bollard, "
            "user-defined bridge | spread | runs ok | all runs, ms |"
        )
        out("|---|---:|---:|---:|---:|---:|---:|---|")
        for v in order:
            if v not in runs:
                continue
            m = med.get(v)
            ratio = f"{m / floor:.2f}x" if m is not None and floor else "n/a"
            ratio_net = f"{m / floor_net:.2f}x" if m is not None and floor_net else "n/a"
            per = fmt_ms(m / args.n) if m is not None else "n/a"
            all_runs = ", ".join(f"{t:.0f}" for t in times.get(v, []))
            ok = runs[v] - fails.get(v, 0)
            sp = f"±{spread[v] * 50:.0f}%" if v in spread else "n/a"
            out(
                f"| {names[v]} | {fmt_ms(m)} | {per} | {ratio} | {ratio_net} | {sp} "
                f"| {ok}/{runs[v]} | {all_runs} |"
            )
        out("")
        out(
            "spread: (slowest - fastest) / median / 2 over the rounds. A gap between two variants "
            "smaller than their spread is noise: the engine's own pace varies from round to round; "
            "run more rounds (`BENCH_ROUNDS`) before reading anything into it."
        )
        out("")

        seq, par = med.get("dockwright_seq"), med.get("dockwright_par")
        cli, xargs_net, py = med.get("cli_loop"), med.get("cli_xargs_net"), med.get("dockerpy")

        def have(*xs):
            return all(x is not None for x in xs)

        def gap(a, b, limit=1.0):
            """How far a/b is above `limit`, relative."""
            return a / b / limit - 1 if have(a, b) else None

        target(
            f"dockwright -j 1 (sequential P_{args.n}) within 1.05x of a bollard loop on a "
            f"user-defined bridge",
            f"{seq / floor_net:.2f}x" if have(seq, floor_net) else "n/a",
            seq <= 1.05 * floor_net if have(seq, floor_net) else None,
            gap(seq, floor_net, 1.05),
            noise("dockwright_seq", "bollard_net"),
        )
        target(
            "dockwright -j 1 faster than the CLI loop",
            f"{fmt_ms(seq)} vs {fmt_ms(cli)} ms" if have(seq, cli) else "n/a",
            seq < cli if have(seq, cli) else None,
            gap(seq, cli),
            noise("dockwright_seq", "cli_loop"),
        )
        target(
            "dockwright -j 1 faster than docker-py",
            f"{fmt_ms(seq)} vs {fmt_ms(py)} ms" if have(seq, py) else "n/a",
            seq < py if have(seq, py) else None,
            gap(seq, py),
            noise("dockwright_seq", "dockerpy"),
        )
        target(
            f"dockwright -j {args.j} at least 1.5x faster than the CLI loop",
            f"{cli / par:.2f}x" if have(par, cli) else "n/a",
            cli / par >= 1.5 if have(par, cli) else None,
            gap(par, cli, 1 / 1.5),
            noise("dockwright_par", "cli_loop"),
        )
        target(
            f"dockwright -j {args.j} no slower than xargs -P {args.j} on a user-defined bridge",
            f"{fmt_ms(par)} vs {fmt_ms(xargs_net)} ms" if have(par, xargs_net) else "n/a",
            par <= xargs_net if have(par, xargs_net) else None,
            gap(par, xargs_net),
            noise("dockwright_par", "cli_xargs_net"),
        )

    # ---- microbenchmarks
    noop, micro, calls = load_json(d("noop.json")), load_json(d("micro.json")), load_json(d("calls.json"))
    rss = read_tsv(d("rss.tsv"))
    if noop or micro or calls or rss:
        out("## Microbenchmarks")
        out("")
    if noop:
        r = noop["results"][0]
        version = next((v for v in noop["results"][1:] if v["command"].endswith("--version")), None)
        mean = r["mean"] * 1e3
        out("### (a) A warm no-op run")
        out("")
        out(
            "`dockwright run noop --plugin bench --team bench`, with the example plugins and "
            "the bench plugin in the folder, beside `dockwright --version` (the same binary "
            "starting and doing nothing) in the same hyperfine invocation; 3 warm-up runs, "
            "then 30 each. The ratio is what a run adds around a plugin, relative to starting "
            "the process."
        )
        out("")
        out("| command | mean ms | ± stddev | median ms | min ms | max ms | ratio |")
        out("|---|---:|---:|---:|---:|---:|---:|")
        rows_a = [("`run noop`", r)] + ([("`--version`", version)] if version else [])
        for label, x in rows_a:
            ratio = f"{x['mean'] / version['mean']:.2f}x" if version else "n/a"
            out(
                f"| {label} | {x['mean'] * 1e3:.1f} | {x['stddev'] * 1e3:.1f} | "
                f"{x['median'] * 1e3:.1f} | {x['min'] * 1e3:.1f} | {x['max'] * 1e3:.1f} | {ratio} |"
            )
        out("")
        if version:
            ratio = r["mean"] / version["mean"]
            target(
                "warm no-op run within 2x `dockwright --version` (means)",
                f"{ratio:.2f}x ({mean:.1f} vs {version['mean'] * 1e3:.1f} ms)",
                ratio <= 2.0,
            )
        else:
            target("warm no-op run within 2x `dockwright --version` (means)", "n/a", None)
    if micro:
        out("### (b) First compile against loading the compiled plugin")
        out("")
        out(
            f"Median of {micro['rounds']} compiles (`Component::new`) and of "
            f"{micro['load_rounds']} loads of the serialized form (`Component::deserialize` from "
            f"memory; `deserialize_file` from a file), on an engine configured as the host's. "
            f"`Runtime::new()` (engine, WASI and the contract's linker): "
            f"{micro['runtime_new_ms']:.2f} ms."
        )
        out("")
        out("| plugin | .wasm KiB | compiled KiB | compile ms | load ms | load from file ms | ratio | ratio (file) |")
        out("|---|---:|---:|---:|---:|---:|---:|---:|")
        worst = None
        for pl in micro["plugins"]:
            out(
                f"| {pl['file']} | {pl['wasm_bytes'] / 1024:.0f} | {pl['serialized_bytes'] / 1024:.0f} | "
                f"{pl['compile_ms']:.1f} | {pl['load_ms']:.3f} | {pl['load_file_ms']:.3f} | "
                f"{pl['ratio']:.0f}x | {pl['ratio_file']:.0f}x |"
            )
            if pl["file"] in EXAMPLE_PLUGINS and (worst is None or pl["ratio"] < worst["ratio"]):
                worst = pl
        out("")
        if worst:
            target(
                "cached load at least 50x faster than a first compile (each example plugin)",
                f"lowest {worst['ratio']:.0f}x ({worst['file']})",
                worst["ratio"] >= 50,
            )
    replay = load_json(d("replay.json"))
    if replay:
        out("### (e) A warm replay of an example plugin's cassette")
        out("")
        out(
            "`dockwright test <plugin.wasm> --replay <cassette>` with no engine (`DOCKER_HOST` "
            "points where nothing answers), the compiled plugin cached; hyperfine, 3 warm-up "
            "runs, then 20."
        )
        out("")
        out("| plugin | mean ms | ± stddev | median ms | min ms |")
        out("|---|---:|---:|---:|---:|")
        worst = None
        for r in replay["results"]:
            plugin = next((w for w in r["command"].split() if w.endswith(".wasm")), "?").rsplit("/", 1)[-1]
            mean = r["mean"] * 1e3
            out(
                f"| {plugin} | {mean:.1f} | {r['stddev'] * 1e3:.1f} | "
                f"{r['median'] * 1e3:.1f} | {r['min'] * 1e3:.1f} |"
            )
            if worst is None or mean > worst[1]:
                worst = (plugin, mean)
        out("")
        target(
            "warm replay of an example plugin: mean at most 20 ms (each)",
            f"highest {worst[1]:.1f} ms ({worst[0]})",
            worst[1] <= 20.0,
        )
    if calls:
        by_n = {}
        for r in calls["results"]:
            by_n["n=0" if r["command"].endswith("n=0") else "n=100000"] = r
        hi, lo = by_n.get("n=100000"), by_n.get("n=0")
        out("### (c) One guest->host import call")
        out("")
        out(
            "`run calls -p n=100000` against `run calls -p n=0`: `host::log` at level debug, "
            "which the terminal drops without `-v`. Median of 20 runs each (hyperfine, 2 warm-ups)."
        )
        out("")
        if hi and lo:
            ns = (hi["median"] - lo["median"]) * 1e9 / CALLS
            out("| n=100000 median ms | n=0 median ms | per call |")
            out("|---:|---:|---:|")
            out(f"| {hi['median'] * 1e3:.1f} | {lo['median'] * 1e3:.1f} | {ns:,.0f} ns |")
            out("")
    if rss:
        out("### (d) Peak RSS with 100 instances alive at once")
        out("")
        out(
            "`/usr/bin/time -f %M dockwright run hold --plugin bench --each i=1,...,100 -j 100 "
            "-p ms=3000`: one process, 100 plugin instances sleeping 3 s each."
        )
        out("")
        out("| allocator | peak RSS MiB | wall ms | status |")
        out("|---|---:|---:|---|")
        labels = {"default": "on-demand (default)", "pooling": "pooling (`DOCKWRIGHT_POOLING=1`)"}
        for mode, kib, wall, status in rss:
            mib = f"{int(kib) / 1024:.0f}" if kib else "n/a"
            out(f"| {labels.get(mode, mode)} | {mib} | {wall} | {status} |")
            if status != "ok":
                failed_measurements.append(f"peak RSS ({mode})")
            if mode == "default":
                target(
                    "peak RSS with 100 instances at most 256 MiB",
                    f"{int(kib) / 1024:.0f} MiB" if kib else "n/a",
                    int(kib) / 1024 <= 256 if kib else None,
                )
        out("")

    # ---- the state on each store
    cost = load_json(d("state-cost.json"))
    if cost:
        out("## The state: SQLite and files against PostgreSQL")
        out("")
        out(
            "`state-cost`: a run's five journal entries (each its own transaction, as a run "
            "writes them) and one create's admission without the engine (the team's lock, the "
            "count of reservations in flight, a reservation, the lock let go, the reservation "
            "dropped), one run at a time and at `-j` threads; PostgreSQL 15 on loopback, a "
            "cluster of the bench's own."
        )
        out("")
        out("| store | part | one at a time: ms per run | at -j: ms per run | at -j: runs/s |")
        out("|---|---|---:|---:|---:|")
        for store in ("sqlite", "postgres"):
            for part in ("journal", "admission"):
                m = cost.get(store, {}).get(part)
                if not m:
                    continue
                out(
                    f"| {store} | {part} | {m['sequential']['median_ms']:.2f} | "
                    f"{m['parallel']['median_ms']:.2f} (-j {m['jobs']}) | "
                    f"{m['parallel']['runs_per_s']:,.0f} |"
                )
        out("")
    big = load_json(d("state-journal.json"))
    if big:
        out("PostgreSQL holding 1,000,000 runs (filled by `journal-fill`): hyperfine, 3 warm-up "
            "runs, then 30.")
        out("")
        out("| command | mean ms | ± stddev |")
        out("|---|---:|---:|")
        for r in big["results"]:
            command = r["command"].split(" ", 1)[1] if " " in r["command"] else r["command"]
            out(f"| {command} | {r['mean'] * 1e3:.1f} | {r['stddev'] * 1e3:.1f} |")
            if command.startswith("runs --limit"):
                target("`runs --limit 10` with 1,000,000 runs in PostgreSQL: under 100 ms warm",
                       f"{r['mean'] * 1e3:.1f} ms", r["mean"] * 1e3 < 100.0)
        out("")

    # ---- the journal
    fills = read_tsv(d("journal-fill.tsv"))
    sizes = [int(n) for n, _, _ in fills]
    if fills:
        out("## The journal")
        out("")
        out(
            "A journal database filled by `journal-fill` (each run: its start, three calls, its "
            "end; 20 teams), then `dockwright runs --limit 10`, `runs show` of the newest run "
            "(by a 12-character prefix) and of the oldest (by its id); hyperfine, 3 warm-up "
            "runs, then 30. Peak RSS by GNU time, one run each."
        )
        out("")
        out("| runs | fill s | database MiB |")
        out("|---:|---:|---:|")
        for n, ms, size in fills:
            out(f"| {int(n):,} | {int(ms) / 1000:.1f} | {int(size) / 2**20:,.0f} |")
        out("")
        rss_by = {(int(n), c): int(k) for n, c, k in read_tsv(d("journal-rss.tsv")) if k}
        out("| runs | command | mean ms | ± stddev | max ms | peak RSS MiB |")
        out("|---:|---|---:|---:|---:|---:|")
        for n in sizes:
            doc = load_json(d(f"journal-{n}.json"))
            if not doc:
                failed_measurements.append(f"journal queries ({n} runs)")
                continue
            names = ["runs --limit 10", "runs show (newest, by prefix)", "runs show (oldest, by id)"]
            for name, r in zip(names, doc["results"]):
                command = r["command"].split(" ", 1)[1] if " " in r["command"] else r["command"]
                kib = rss_by.get((n, command))
                mib = f"{kib / 1024:.1f}" if kib else "n/a"
                mean = r["mean"] * 1e3
                out(
                    f"| {n:,} | {name} | {mean:.1f} | {r['stddev'] * 1e3:.1f} | "
                    f"{r['max'] * 1e3:.1f} | {mib} |"
                )
                if n == max(sizes):
                    target(f"`{name}` with {n:,} runs: under 50 ms warm", f"{mean:.1f} ms", mean < 50.0)
        out("")
        if len(sizes) >= 2:
            small, large = min(sizes), max(sizes)
            pairs = [
                (rss_by.get((small, c)), rss_by.get((large, c)))
                for (n, c) in rss_by
                if n == small
            ]
            growth = max((b - a) / 1024 for a, b in pairs if a and b) if pairs else None
            target(
                f"memory does not grow with the store: peak RSS at {large:,} runs within 4 MiB "
                f"of {small:,}",
                f"{round(growth, 1) + 0.0:+.1f} MiB" if growth is not None else "n/a",
                growth <= 4.0 if growth is not None else None,
            )

    # ---- engine requests
    req_rows = read_tsv(d("requests.tsv"))
    if req_rows:
        floors = {w: int(n) for w, n in read_tsv(d("requests-floor.tsv"))}
        kinds = ["dockwright-cli", "dockwright-serve", "docker-cli"]
        counts, workflows = {}, []
        for workflow, kind, n, status in req_rows:
            if workflow not in workflows:
                workflows.append(workflow)
            if status == "ok":
                counts[(workflow, kind)] = int(n)
            else:
                failed_measurements.append(f"engine requests of {workflow} ({kind})")

        def count(w, k):
            n = counts.get((w, k))
            return "failed" if n is None else str(n)

        def ratio(w, k):
            n, floor_n = counts.get((w, k)), floors.get(w)
            return f"{n / floor_n:.1f}x" if n is not None and floor_n else "n/a"

        out("## Engine requests")
        out("")
        out(
            "The requests each example workflow sends the engine, counted by `engine-proxy` "
            "between the client and the engine: the second run of each (the first warms the "
            "image cache, the team's network and the server's connection), on the examples' "
            "config as team `blue`. `dockwright serve` counts the server's requests while "
            "`POST /v1/runs` runs. The docker CLI does the same work one command per step. The "
            "floor is the least the work takes (bench/run says why for each)."
        )
        out("")
        out(
            "| workflow | dockwright run | dockwright serve | docker CLI | floor "
            "| run / floor | serve / floor |"
        )
        out("|---|---:|---:|---:|---:|---:|---:|")
        for w in workflows:
            out(
                f"| {w} | {count(w, 'dockwright-cli')} | {count(w, 'dockwright-serve')} "
                f"| {count(w, 'docker-cli')} | {floors.get(w, 'n/a')} "
                f"| {ratio(w, 'dockwright-cli')} | {ratio(w, 'dockwright-serve')} |"
            )
        out("")
        out(
            "The requests themselves, with how many of each (`{id}`: a container or exec id; "
            "`{name}`: a name of this run's):"
        )
        out("")
        for w in workflows:
            for k in kinds:
                try:
                    with open(d(os.path.join("requests", f"{w}.{k}.txt"))) as f:
                        grouped = f.read().rstrip("\n")
                except OSError:
                    continue
                out(f"**{w}**, {k} ({count(w, k)}):")
                out("")
                out("```text")
                out(grouped or "(none)")
                out("```")
                out("")
        serve_n = counts.get(("team-env", "dockwright-serve"))
        target(
            "team-env: at most 6 engine requests on a warm engine (serve; run beside it)",
            f"serve {count('team-env', 'dockwright-serve')}, "
            f"run {count('team-env', 'dockwright-cli')} (floor {floors.get('team-env', 'n/a')})",
            serve_n <= 6 if serve_n is not None else None,
        )

    # ---- log reads
    def log_reads(name, title, intro, docker_label, dw_label, what):
        """The table of one log-read measurement (NAME.json, NAME.tsv) and its target."""
        doc = load_json(d(f"{name}.json"))
        if not doc or len(doc["results"]) < 2:
            return
        docker_r, dw_r = doc["results"][0], doc["results"][1]
        # reader -> (bytes it got, lines or "")
        got = {row[0]: (row + ["", ""])[1:3] for row in read_tsv(d(f"{name}.tsv"))}
        out(f"## {title}")
        out("")
        out(intro)
        out("")
        out("| reader | mean ms | ± stddev | min ms | max ms | bytes read | ratio |")
        out("|---|---:|---:|---:|---:|---:|---:|")
        for label, key, x in ((docker_label, "docker", docker_r), (dw_label, "dockwright", dw_r)):
            nbytes, nlines = got.get(key, ("", ""))
            b = f"{int(nbytes):,}" if nbytes else "n/a"
            if nlines:
                b += f" ({int(nlines):,} lines)"
            out(
                f"| {label} | {x['mean'] * 1e3:,.0f} | {x['stddev'] * 1e3:,.0f} | "
                f"{x['min'] * 1e3:,.0f} | {x['max'] * 1e3:,.0f} | {b} | "
                f"{x['mean'] / docker_r['mean']:.2f}x |"
            )
        out("")
        ratio = dw_r["mean"] / docker_r["mean"]
        target(
            f"{what} within 1.5x {docker_label} (means)",
            f"{ratio:.2f}x ({dw_r['mean'] * 1e3:,.0f} vs {docker_r['mean'] * 1e3:,.0f} ms)",
            ratio <= 1.5,
        )

    log_reads(
        "logs",
        "Log reads",
        "One container wrote 100 MB of short lines (`yes ... | head -c 100000000`) with the "
        "json-file options dockwright gives its containers (`max-size=10m`, `max-file=3`: the "
        "engine keeps the newest 30 MB of JSON); then `docker logs` of it to /dev/null against "
        "`dockwright run logs` (the bench plugin reads the whole log through the "
        "`container-logs` import, which hands a plugin at most the newest 4 MiB). hyperfine, "
        "1 warm-up run, then 5 each.",
        "`docker logs`",
        "dockwright `run logs`",
        "log reads",
    )
    log_reads(
        "service-logs",
        "Service log reads",
        "The same 100 MB from the one task of a Swarm service (json-file, `max-size=10m`, "
        "`max-file=3`), on a single-node swarm of a dockerd the benchmark starts for it: "
        "`docker service logs` to /dev/null against `dockwright run service-logs` (the "
        "`service-logs` import: at most the newest 4 MiB). hyperfine, 1 warm-up run, then 5 "
        "each.",
        "`docker service logs`",
        "dockwright `run service-logs`",
        "service log reads",
    )

    try:
        with open(d("skipped.txt")) as f:
            skipped = [s.strip() for s in f if s.strip()]
    except OSError:
        skipped = []
    try:
        with open(d("failed.txt")) as f:
            failed_measurements += [s.strip() for s in f if s.strip()]
    except OSError:
        pass

    out("## Targets")
    out("")
    out("| target | measured | |")
    out("|---|---|---|")
    for what, measured, verdict in targets:
        out(f"| {what} | {measured} | {verdict} |")
    out("")
    if skipped or failed_measurements:
        out("## Not measured")
        out("")
        for s in skipped:
            out(f"- {s}")
        for s in failed_measurements:
            out(f"- {s}: failed (see the run's output)")
        out("")

    text = "\n".join(lines)
    print(text)
    with open(args.out, "w") as f:
        f.write(text)

    missed = [t for t in targets if t[2].startswith("MISS")]
    if failed_measurements:
        print(f"error: {len(failed_measurements)} measurement(s) failed", file=sys.stderr)
        return 1
    if missed:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
