//! Unit tests of [`super`]: a team merged with `[defaults]`, and the values it takes.

use std::time::Duration;

use super::super::tests::{cwd, error, parse_at};
use super::super::*;
use crate::config::document::testing::assert_placed;

#[test]
fn defaults_merge_key_by_key() {
    let config = parse_at(
        r#"
        [defaults]
        images = ["dockwright/*"]
        max_running = 3
        memory = { default = "128m", max = "512m" }
        env = { TEAM = "{team}", ORG = "acme" }
        plugin_limits = { timeout = "30s" }
        build_unbounded_pids = true

        [teams.blue]
        images = ["blue/*"]
        memory = { max = "1g" }
        build_unbounded_pids = false
        env = { ORG = "blue-org" }
        plugin_limits = { log = "2m" }

        [teams.green]
        "#,
    )
    .unwrap();
    let builtin = default_team("x", &cwd());
    let blue = config.team("blue").unwrap();
    let green = config.team("green").unwrap();
    // Arrays are replaced whole.
    assert_eq!(blue.images, vec!["blue/*"]);
    assert_eq!(green.images, vec!["dockwright/*"]);
    // Scalars fall back to [defaults], then to the built-in policy.
    assert_eq!((blue.max_running, green.max_running), (3, 3));
    assert_eq!(blue.max_containers, builtin.max_containers);
    // A team's own `false` wins over `true` in [defaults].
    assert!(!blue.build_unbounded_pids && green.build_unbounded_pids);
    assert!(!builtin.build_unbounded_pids);
    // Tables merge key by key.
    assert_eq!(
        blue.memory_bytes,
        Limit {
            default: 128 << 20,
            max: 1 << 30
        }
    );
    assert_eq!(
        green.memory_bytes,
        Limit {
            default: 128 << 20,
            max: 512 << 20
        }
    );
    assert_eq!(blue.cpus, builtin.cpus);
    assert_eq!(
        blue.env,
        vec![
            ("ORG".into(), "blue-org".into()),
            ("TEAM".into(), "blue".into())
        ]
    );
    assert_eq!(
        green.env,
        vec![
            ("ORG".into(), "acme".into()),
            ("TEAM".into(), "green".into())
        ]
    );
    assert_eq!(blue.limits.timeout, Duration::from_secs(30));
    assert_eq!(blue.limits.log_bytes, 2 << 20);
    assert_eq!(blue.limits.memory_bytes, builtin.limits.memory_bytes);
    // No build roots anywhere: the current directory, as without a config.
    assert_eq!(blue.build_roots, vec![cwd()]);
}

#[test]
fn value_forms() {
    // (key, value, what to read back from the policy, what it must show)
    type Case = (
        &'static str,
        &'static str,
        fn(&TeamPolicy) -> String,
        &'static str,
    );
    let cases: &[Case] = &[
        (
            "memory",
            "{ max = 1073741824 }",
            |t| t.memory_bytes.max.to_string(),
            "1073741824",
        ),
        (
            "memory",
            "{ default = \"512K\" }",
            |t| t.memory_bytes.default.to_string(),
            "524288",
        ),
        (
            "memory",
            "{ max = \"2GiB\" }",
            |t| t.memory_bytes.max.to_string(),
            "2147483648",
        ),
        (
            "memory",
            "{ default = \"3mb\" }",
            |t| t.memory_bytes.default.to_string(),
            "3145728",
        ),
        ("cpus", "{ max = 4 }", |t| t.cpus.max.to_string(), "4"),
        (
            "cpus",
            "{ default = 0.25 }",
            |t| t.cpus.default.to_string(),
            "0.25",
        ),
        (
            "host_ports",
            "\"8080\"",
            |t| format!("{:?}", t.host_ports),
            "8080..=8080",
        ),
        (
            "host_ports",
            "8080",
            |t| format!("{:?}", t.host_ports),
            "8080..=8080",
        ),
        (
            "host_ports",
            "\"1-65535\"",
            |t| format!("{:?}", t.host_ports),
            "1..=65535",
        ),
        (
            "host_ports",
            "\"30000 - 30009\"",
            |t| format!("{:?}", t.host_ports),
            "30000..=30009",
        ),
        (
            "plugin_limits",
            "{ timeout = \"500ms\" }",
            |t| format!("{:?}", t.limits.timeout),
            "500ms",
        ),
        (
            "plugin_limits",
            "{ timeout = \"1h\" }",
            |t| format!("{:?}", t.limits.timeout),
            "3600s",
        ),
        (
            "exec_as_root",
            "true",
            |t| t.exec_as_root.to_string(),
            "true",
        ),
        (
            "build_network",
            "true",
            |t| t.build_network.to_string(),
            "true",
        ),
        (
            "build_unbounded_pids",
            "true",
            |t| t.build_unbounded_pids.to_string(),
            "true",
        ),
        (
            "capabilities",
            "[\"cap_chown\", \"KILL\", \"CHOWN\"]",
            |t| t.capabilities.join(","),
            "CHOWN,KILL",
        ),
        (
            "read_only_rootfs",
            "true",
            |t| t.read_only_rootfs.to_string(),
            "true",
        ),
        (
            "run_as_root",
            "false",
            |t| t.run_as_root.to_string(),
            "false",
        ),
        (
            "host_ips",
            "[\"127.0.0.1\", \"::1\"]",
            |t| format!("{:?}", t.host_ips),
            "[127.0.0.1, ::1]",
        ),
        (
            "permissions",
            "[\"observe\", \"containers\"]",
            |t| format!("{:?}", t.permissions.as_ref().map(|p| p.to_string())),
            "Some(\"containers, observe\")",
        ),
        (
            "require_signed",
            "true",
            |t| t.require_signed.to_string(),
            "true",
        ),
        (
            "trusted_keys",
            "[\"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"]",
            |t| t.trusted_keys.join(","),
            "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        ),
    ];
    for (key, value, get, want) in cases {
        let config = parse_at(&format!("[teams.blue]\n{key} = {value}\n"))
            .unwrap_or_else(|e| panic!("{key} = {value}: {e:#}"));
        assert_eq!(get(config.team("blue").unwrap()), *want, "{key} = {value}");
    }
}

#[test]
fn bad_values_name_the_file_the_line_and_the_key() {
    // (config, the key the error must name, words it must contain)
    let cases: &[(&str, &str, &str)] = &[
        (
            "[teams.blue]\nmemory = { default = \"256m\", max = \"lots\" }",
            "teams.blue.memory.max",
            r#"expected a size such as "512m" or "2g" (or a number of bytes above 0), found "lots""#,
        ),
        (
            "[teams.blue]\nmemory = { max = 0 }",
            "teams.blue.memory.max",
            "above 0",
        ),
        (
            "[teams.blue]\nmemory = { max = \"0m\" }",
            "teams.blue.memory.max",
            "found \"0m\"",
        ),
        (
            "[teams.blue]\nmemory = { max = \"12x\" }",
            "teams.blue.memory.max",
            "expected a size",
        ),
        (
            "[teams.blue]\nmemory = { max = \"ib\" }",
            "teams.blue.memory.max",
            "expected a size",
        ),
        (
            "[teams.blue]\nmemory = { default = \"2g\", max = \"1g\" }",
            "teams.blue.memory.default",
            "the default 2g is more than the max 1g (from teams.blue.memory.max)",
        ),
        (
            "[defaults]\nmemory = { max = \"1g\" }\n[teams.blue]\nmemory = { default = \"2g\" }",
            "teams.blue.memory.default",
            "more than the max 1g (from defaults.memory.max)",
        ),
        (
            "[defaults]\nmemory = { default = \"2g\" }\n[teams.blue]\nmemory = { max = \"1g\" }",
            "defaults.memory.default",
            "the default 2g is more than the max 1g (from teams.blue.memory.max) for team `blue`",
        ),
        (
            "[teams.blue]\nmemory = { max = \"128m\" }",
            "teams.blue.memory.max",
            "the max 128m is less than the default 256m (from the built-in policy)",
        ),
        (
            "[teams.blue]\ncpus = { default = 4, max = 2 }",
            "teams.blue.cpus.default",
            "more than the max 2",
        ),
        (
            "[teams.blue]\ncpus = { max = 0 }",
            "teams.blue.cpus.max",
            "expected a number of CPUs above 0",
        ),
        (
            "[teams.blue]\ncpus = { max = nan }",
            "teams.blue.cpus.max",
            "found nan",
        ),
        (
            "[teams.blue]\ncpus = { max = \"2\" }",
            "teams.blue.cpus.max",
            "found \"2\"",
        ),
        (
            "[teams.blue]\npids = { default = 600, max = 500 }",
            "teams.blue.pids.default",
            "more than the max 500",
        ),
        (
            "[teams.blue]\npids = { max = 0 }",
            "teams.blue.pids.max",
            "expected a whole number above 0, found 0",
        ),
        (
            "[teams.blue]\npids = { max = -1 }",
            "teams.blue.pids.max",
            "found -1",
        ),
        (
            "[teams.blue]\nmax_containers = 0",
            "teams.blue.max_containers",
            "above 0, found 0",
        ),
        (
            "[teams.blue]\nmax_running = \"five\"",
            "teams.blue.max_running",
            "found \"five\"",
        ),
        (
            "[teams.blue]\nhost_ports = \"30999-30000\"",
            "teams.blue.host_ports",
            "low port first, found \"30999-30000\"",
        ),
        (
            "[teams.blue]\nhost_ports = \"0-100\"",
            "teams.blue.host_ports",
            "within 1-65535",
        ),
        (
            "[teams.blue]\nhost_ports = \"70000\"",
            "teams.blue.host_ports",
            "found \"70000\"",
        ),
        (
            "[teams.blue]\nhost_ports = \"a-b\"",
            "teams.blue.host_ports",
            "expected a port",
        ),
        (
            "[teams.blue.plugin_limits]\ntimeout = \"5\"",
            "teams.blue.plugin_limits.timeout",
            r#"expected a duration such as "30s", "5m" or "1h", found "5""#,
        ),
        (
            "[teams.blue.plugin_limits]\ntimeout = \"0s\"",
            "teams.blue.plugin_limits.timeout",
            "found \"0s\"",
        ),
        (
            "[teams.blue.plugin_limits]\nlog = \"much\"",
            "teams.blue.plugin_limits.log",
            "expected a size",
        ),
        (
            "[teams.blue]\nimages = \"dockwright/*\"",
            "teams.blue.images",
            "expected an array, found string",
        ),
        (
            "[teams.blue]\nimages = [\"a\", 3]",
            "teams.blue.images[1]",
            "expected a string, found integer `3`",
        ),
        (
            "[teams.blue]\nexec_as_root = \"no\"",
            "teams.blue.exec_as_root",
            "expected a boolean",
        ),
        (
            "[teams.blue]\nbuild_unbounded_pids = \"yes\"",
            "teams.blue.build_unbounded_pids",
            "expected a boolean",
        ),
        (
            "[teams.blue]\ncapabilities = [\"SYS_ADMIN\"]",
            "teams.blue.capabilities",
            "never grants more than the engine's default",
        ),
        (
            "[defaults]\ncapabilities = [\"CAP_NET_ADMIN\"]\n[teams.blue]",
            "defaults.capabilities",
            "found \"CAP_NET_ADMIN\"",
        ),
        (
            "[teams.blue]\nhost_ips = [\"localhost\"]",
            "teams.blue.host_ips",
            "expected IP addresses",
        ),
        (
            "[teams.blue]\nrun_as_root = 0",
            "teams.blue.run_as_root",
            "expected a boolean",
        ),
        (
            "[teams.blue]\nread_only_rootfs = \"on\"",
            "teams.blue.read_only_rootfs",
            "expected a boolean",
        ),
        (
            "[teams.blue]\npermissions = [\"root\"]",
            "teams.blue.permissions",
            "expected a permission group (containers, observe",
        ),
        (
            "[teams.blue]\ntrusted_keys = [\"ed25519:short\"]",
            "teams.blue.trusted_keys",
            "expected a public key",
        ),
        (
            "[teams.blue]\nenv = { TEAM = 3 }",
            "teams.blue.env.TEAM",
            "expected a string",
        ),
        (
            "[teams.blue]\nenv = { \"A=B\" = \"x\" }",
            "teams.blue.env.\"A=B\"",
            "without `=`",
        ),
        (
            "[teams.blue]\nbuild_roots = [\"\"]",
            "teams.blue.build_roots[0]",
            "expected a folder path",
        ),
        (
            "[teams]\nblue = 3",
            "teams.blue",
            "expected a table of team settings, found integer `3`",
        ),
        ("[teams.Blue]", "teams.Blue", "not a valid name"),
        ("[teams.\"\"]", "teams.\"\"", "not a valid name"),
        (
            "[teams.\"blue team\"]",
            "teams.\"blue team\"",
            "not a valid name",
        ),
        (
            "[teams.\"blue.v2\"]\nmax_running = 0",
            "teams.\"blue.v2\".max_running",
            "above 0",
        ),
        (
            "[defaults]\nmax_running = 0\n[teams.blue]",
            "defaults.max_running",
            "above 0",
        ),
        ("journal = \"/j\"", "teams", "no teams are defined"),
        ("[teams]", "teams", "no teams are defined"),
    ];
    for (text, key, words) in cases {
        assert_placed(&error(text), text, key, words);
    }
}

#[test]
fn lifetimes_merge_key_by_key_and_name_a_bad_one() {
    use crate::policy::lifetime::Lifetime;
    let config = parse_at(
        r#"
        [defaults]
        lifetime = { default = "8h", max = "7d" }
        webhook = "http://127.0.0.1:9/hooks"

        [teams.blue]
        lifetime = { max = "1d", warn = "10m" }

        [teams.green]

        "#,
    )
    .unwrap();
    let hour = Duration::from_secs(3600);
    assert_eq!(
        config.team("blue").unwrap().lifetime,
        Some(Lifetime {
            default: hour * 8,
            max: hour * 24,
            warn: Duration::from_secs(600)
        })
    );
    assert_eq!(
        config.team("green").unwrap().lifetime,
        Some(Lifetime {
            default: hour * 8,
            max: hour * 24 * 7,
            warn: Lifetime::DEFAULT_WARN
        })
    );
    assert_eq!(
        config.team("green").unwrap().webhook.as_deref(),
        Some("http://127.0.0.1:9/hooks")
    );
    // No key anywhere: runs do not expire.
    let plain = parse_at("[teams.red]\n").unwrap();
    assert_eq!(plain.team("red").unwrap().lifetime, None);
    // Only a default: it is the max too.
    let only = parse_at("[teams.red]\nlifetime = { default = \"2h\" }").unwrap();
    assert_eq!(only.team("red").unwrap().lifetime.unwrap().max, hour * 2);

    let cases: &[(&str, &str, &str)] = &[
        (
            "[teams.blue]\nlifetime = { default = \"2d\", max = \"1d\" }",
            "teams.blue.lifetime.default",
            "the default lifetime 2d is more than the max 1d",
        ),
        (
            "[teams.blue]\nlifetime = { max = \"forever\" }",
            "teams.blue.lifetime.max",
            "expected a duration such as \"30m\", \"8h\" or \"7d\"",
        ),
        (
            "[teams.blue]\nlifetime = {}",
            "teams.blue.lifetime",
            "a lifetime needs a default or a max",
        ),
        (
            "[teams.blue]\nwebhook = \"ftp://x\"",
            "teams.blue.webhook",
            "expected an http:// or https:// URL",
        ),
    ];
    for (text, key, words) in cases {
        let e = error(text);
        assert!(e.contains(key) && e.contains(words), "{text}\n=> {e}");
    }
}
