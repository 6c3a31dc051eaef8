//! `inventory`: what runs on the engine, as `docker ps` with processes and network use.
//!
//! `ps` lists the containers the plugin may see; for running ones it adds their processes
//! (`top`) and one sample of their network counters (`stats`). It shows a table to the user
//! and returns one output per container.

use dockwright_sdk::docker::{self, ContainerState, ContainerSummary, ListOptions, PublishedPort};
use dockwright_sdk::{info, kv, param_or, Context, Guest, KeyValue, Param, PluginInfo, Workflow};

struct Inventory;

impl Guest for Inventory {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "inventory".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Lists containers with their ports, processes and network use".into(),
            workflows: vec![Workflow::new(
                "ps",
                "Lists containers; running ones also show their processes and network traffic",
                vec![Param::optional(
                    "all",
                    "Include stopped containers (true or false)",
                    "true",
                )],
            )],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        match workflow.as_str() {
            "ps" => ps(&params),
            other => Err(dockwright_sdk::unknown_workflow(other, &Self::describe())),
        }
    }
}

dockwright_sdk::export!(Inventory);

/// What the plugin learned about one container.
struct Row {
    name: String,
    id: String,
    image: String,
    state: ContainerState,
    status: String,
    created: String,
    ip: String,
    ports: String,
    /// Process commands, for a running container.
    processes: Option<String>,
    /// Network counters, for a running container.
    network: Option<String>,
}

fn ps(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let all = parse_bool("all", param_or(params, "all", "true"))?;
    let mut containers = docker::list_containers(&ListOptions {
        all,
        labels: vec![],
    })
    .context("listing containers")?;
    containers.sort_by(|a, b| display_name(a).cmp(display_name(b)));

    let rows: Vec<Row> = containers.iter().map(row).collect();
    log_table(&rows, all);

    let mut outputs: Vec<KeyValue> = rows.iter().map(|r| kv(&r.name, summary(r))).collect();
    outputs.push(kv("count", rows.len()));
    Ok(outputs)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        other => Err(format!(
            "param `{name}` is `{other}`, which is not a yes or no: give true or false"
        )),
    }
}

fn display_name(c: &ContainerSummary) -> &str {
    c.name.trim_start_matches('/')
}

fn row(c: &ContainerSummary) -> Row {
    let running = c.state == ContainerState::Running;
    // A container can stop between the listing and these calls: show why a detail is
    // missing rather than failing the whole listing.
    let processes = running.then(|| match docker::top(&c.id) {
        Ok(list) => processes(&list),
        Err(e) => format!("unavailable ({})", e.display()),
    });
    let network = running.then(|| match docker::stats(&c.id) {
        Ok(stats) if stats.networks.is_empty() => "no networks".to_string(),
        Ok(stats) => stats
            .networks
            .iter()
            .map(|n| {
                format!(
                    "{} rx {} tx {}",
                    n.name,
                    bytes(n.rx_bytes),
                    bytes(n.tx_bytes)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("unavailable ({})", e.display()),
    });
    Row {
        name: display_name(c).to_string(),
        id: c.id.get(..12).unwrap_or(&c.id).to_string(),
        image: c.image.clone(),
        state: c.state,
        status: c.status.clone(),
        created: rfc3339(c.created),
        ip: c
            .ip_address
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .unwrap_or("-")
            .to_string(),
        ports: ports(&c.ports),
        processes,
        network,
    }
}

/// `0.0.0.0:32768->80/tcp, 53/udp`, like `docker ps`.
fn ports(ports: &[PublishedPort]) -> String {
    if ports.is_empty() {
        return "-".into();
    }
    ports
        .iter()
        .map(|p| {
            if p.host_port == 0 {
                format!("{}/{}", p.container_port, p.protocol)
            } else {
                let ip = if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &p.host_ip
                };
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The commands of a process list, separated by `; `.
fn processes(list: &docker::ProcessList) -> String {
    // `ps` names the command column CMD or COMMAND; without either, take the last column.
    let column = list
        .titles
        .iter()
        .position(|t| t == "CMD" || t == "COMMAND")
        .unwrap_or(list.titles.len().saturating_sub(1));
    let commands: Vec<&str> = list
        .processes
        .iter()
        .filter_map(|p| p.get(column).or(p.last()))
        .map(|c| c.trim())
        .collect();
    if commands.is_empty() {
        "none".into()
    } else {
        commands.join("; ")
    }
}

/// The one-line output for a container.
fn summary(r: &Row) -> String {
    let mut s = format!(
        "{} ({}) | id {} | image {} | created {} | ip {} | ports {}",
        r.state, r.status, r.id, r.image, r.created, r.ip, r.ports
    );
    if let Some(p) = &r.processes {
        s.push_str(&format!(" | processes: {p}"));
    }
    if let Some(n) = &r.network {
        s.push_str(&format!(" | network: {n}"));
    }
    s
}

/// Shows the containers as a table, one log line per row; running containers get their
/// processes and network use on the lines under their row.
fn log_table(rows: &[Row], all: bool) {
    if rows.is_empty() {
        info(if all {
            "no containers"
        } else {
            "no running containers"
        });
        return;
    }
    let header = [
        "NAME",
        "CONTAINER ID",
        "IMAGE",
        "STATE",
        "STATUS",
        "CREATED",
        "IP",
        "PORTS",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.id.clone(),
                r.image.clone(),
                r.state.to_string(),
                r.status.clone(),
                r.created.clone(),
                r.ip.clone(),
                r.ports.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string()
    };
    info(&line(&header));
    for (r, row) in rows.iter().zip(&cells) {
        let row: Vec<&str> = row.iter().map(String::as_str).collect();
        info(&line(&row));
        if let Some(p) = &r.processes {
            info(&format!("    processes: {p}"));
        }
        if let Some(n) = &r.network {
            info(&format!("    network:   {n}"));
        }
    }
    info(&format!("{} container(s)", rows.len()));
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Seconds since the Unix epoch as an RFC 3339 time in UTC, such as `2026-11-22T18:02:03Z`.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("all", "TRUE"), Ok(true));
        assert_eq!(parse_bool("all", "no"), Ok(false));
        assert!(parse_bool("all", "maybe").is_err());
    }
}
