//! Flag parsing, precedence, environment variables and `--help` defaults of every role.

use super::*;
use crate::config::StorageType;
use std::io::Write;

fn parse(args: &[&str]) -> AllInOneArgs {
    let mut full = vec!["tracehound", "all-in-one"];
    full.extend_from_slice(args);
    match Cli::try_parse_from(full).expect("arguments parse").command {
        Command::AllInOne(a) => *a,
        other => panic!("not all-in-one: {other:?}"),
    }
}

/// clap's own consistency checks (unique argument ids, …) for every subcommand; they
/// otherwise fire only when a role is started.
#[test]
fn command_definition_is_valid() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[test]
fn flags_override_file_which_overrides_defaults() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[rocksdb]\npath = \"/from/file\"\nspan-store-ttl = \"24h\"\n[memory]\nmax-traces = 7"
    )
    .unwrap();
    let path = f.path().to_str().unwrap().to_string();
    let cfg = parse(&["--config", &path, "--rocksdb.path", "/from/flag"])
        .load_config()
        .unwrap();
    assert_eq!(cfg.rocksdb.path, PathBuf::from("/from/flag"));
    assert_eq!(cfg.rocksdb.span_store_ttl, GoDuration::from_secs(24 * 3600));
    assert_eq!(cfg.memory.max_traces, 7);
    assert_eq!(cfg.query.base_path, "/");
}

#[test]
fn jaeger_style_flags_parse() {
    let cfg = parse(&[
        "--span-storage.type=memory",
        "--collector.otlp.enabled=false",
        "--collector.otlp.grpc.host-port=127.0.0.1:0",
        "--collector.otlp.http.host-port=",
        "--collector.zipkin.host-port=",
        "--query.max-clock-skew-adjustment=1.5s",
        "--rocksdb.max-disk-size=10GiB",
    ])
    .load_config()
    .unwrap();
    assert_eq!(cfg.span_storage.types, StorageType::Memory.into());
    assert!(!cfg.collector.otlp.enabled);
    assert!(cfg.collector.otlp.http.host_port.is_disabled());
    assert!(cfg.collector.zipkin.host_port.is_disabled());
    assert_eq!(cfg.query.max_clock_skew_adjustment.0, 1_500_000_000);
    assert_eq!(cfg.rocksdb.max_disk_size, Some(ByteSize(10 << 30)));
}

#[test]
fn bad_values_are_refused_naming_the_flag() {
    let full = [
        "tracehound",
        "all-in-one",
        "--rocksdb.span-store-ttl",
        "forever",
    ];
    let err = Cli::try_parse_from(full).unwrap_err().to_string();
    assert!(err.contains("rocksdb.span-store-ttl"), "{err}");
}

/// The server roles and the defaults each starts from.
fn roles() -> [(&'static str, Config); 5] {
    [
        ("all-in-one", Config::default()),
        ("collector", Config::default()),
        ("query", Config::query_defaults()),
        ("remote-storage", Config::remote_storage_defaults()),
        ("agent", Config::agent_defaults()),
    ]
}

#[test]
fn every_flag_has_its_environment_variable() {
    use clap::CommandFactory;
    let cmd = Cli::command();
    for (role, _) in roles() {
        let sub = cmd.find_subcommand(role).unwrap();
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            let want = long.to_uppercase().replace(['.', '-'], "_");
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env.as_deref(), Some(want.as_str()), "{role} --{long}");
        }
    }
}

/// The `[default: …]` shown in `--help` must be the real default of the role's config.
#[test]
fn help_defaults_match_the_config_defaults() {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut checked = 0;
    for (role, defaults) in roles() {
        let defaults = toml::Value::try_from(defaults).unwrap();
        for arg in cmd.find_subcommand(role).unwrap().get_arguments() {
            let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) else {
                continue;
            };
            let help = help.to_string();
            let Some(shown) = help
                .split("[default: ")
                .nth(1)
                .and_then(|rest| rest.split(']').next())
            else {
                continue;
            };
            // Flag names are dotted TOML paths (`query.http-server.host-port`).
            let real = long.split('.').try_fold(&defaults, |v, part| v.get(part));
            match real {
                Some(real) => assert!(
                    same_default(shown, real),
                    "{role} --{long}: help says {shown}, default is {real}"
                ),
                None => assert_eq!(
                    shown, "none",
                    "{role} --{long}: help says {shown}, default is unset"
                ),
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} defaults checked");
}

fn same_default(shown: &str, real: &toml::Value) -> bool {
    use crate::config::{ByteSize, GoDuration};
    match real {
        toml::Value::String(s) => {
            s == shown
                || (shown.parse::<GoDuration>().ok().is_some()
                    && shown.parse::<GoDuration>().ok() == s.parse::<GoDuration>().ok())
                || (shown.parse::<ByteSize>().ok().is_some()
                    && shown.parse::<ByteSize>().ok() == s.parse::<ByteSize>().ok())
                || (s.is_empty() && shown == "none")
        }
        other => other.to_string() == shown,
    }
}

#[test]
fn agent_flags_parse_and_need_a_collector() {
    let parse_agent = |args: &[&str]| {
        let mut full = vec!["tracehound", "agent"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).expect("arguments parse").command {
            Command::Agent(a) => a.load_config(),
            other => panic!("not agent: {other:?}"),
        }
    };
    let err = parse_agent(&[]).unwrap_err().to_string();
    assert!(err.contains("reporter.grpc.host-port"), "{err}");
    let cfg = parse_agent(&[
        "--reporter.grpc.host-port=c1:14250, c2:14250",
        "--agent.tags=zone=eu",
        "--processor.jaeger-binary.server-host-port=",
    ])
    .unwrap();
    assert_eq!(cfg.reporter_endpoints(), ["c1:14250", "c2:14250"]);
    assert_eq!(cfg.agent.tags, "zone=eu");
    assert!(cfg.processor.jaeger_binary.server_host_port.is_disabled());
    assert_eq!(cfg.admin.http.host_port, HostPort::port(14271));
    assert!(parse_agent(&["--reporter.grpc.host-port=nohost"]).is_err());
}

#[test]
fn each_role_takes_only_its_own_flags() {
    let parses = |args: &[&str]| Cli::try_parse_from(args).is_ok();
    // The query service has no ingest listeners, the collector no query ones, the
    // remote-storage server neither.
    assert!(!parses(&[
        "tracehound",
        "query",
        "--collector.otlp.grpc.host-port=:1"
    ]));
    assert!(!parses(&[
        "tracehound",
        "collector",
        "--query.http-server.host-port=:1"
    ]));
    assert!(!parses(&[
        "tracehound",
        "remote-storage",
        "--collector.queue-size=1"
    ]));
    assert!(parses(&[
        "tracehound",
        "remote-storage",
        "--grpc.host-port=:1"
    ]));
    assert!(parses(&[
        "tracehound",
        "query",
        "--query.grpc-server.host-port=:1"
    ]));
}

#[test]
fn storage_lists_and_the_remote_adapter() {
    let cfg = parse(&[
        "--span-storage.type=rocksdb,grpc",
        "--grpc-storage.server=storage.local:17271",
        "--grpc-storage.tls.enabled",
        "--archive-storage.type=memory",
    ])
    .load_config()
    .unwrap();
    assert_eq!(
        cfg.span_storage.types.0,
        vec![StorageType::Rocksdb, StorageType::Grpc]
    );
    assert_eq!(cfg.grpc_storage.server, "storage.local:17271");
    assert!(cfg.grpc_storage.tls.enabled);
    assert_eq!(
        cfg.archive_storage.storage_type(),
        Ok(Some(StorageType::Memory))
    );
    // grpc needs a server; a type may not be listed twice.
    let err = parse(&["--span-storage.type=grpc"])
        .load_config()
        .unwrap_err()
        .to_string();
    assert!(err.contains("grpc-storage.server"), "{err}");
    let full = [
        "tracehound",
        "all-in-one",
        "--span-storage.type=memory,memory",
    ];
    assert!(Cli::try_parse_from(full).is_err());
}
