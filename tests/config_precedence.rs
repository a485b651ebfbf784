//! Configuration precedence through the real binary: flags > environment > config file.
//! The data directory the server actually creates tells which source won.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts the binary until it reports its query listener, then kills it.
fn run_once(config: &Path, env_path: Option<&Path>, flag_path: Option<&Path>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracehound"));
    cmd.args([
        "all-in-one",
        "--config",
        config.to_str().unwrap(),
        "--log-level=warn",
    ])
    .env_remove("ROCKSDB_PATH")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(p) = env_path {
        cmd.env("ROCKSDB_PATH", p);
    }
    if let Some(p) = flag_path {
        cmd.arg(format!("--rocksdb.path={}", p.display()));
    }
    let mut child = cmd.spawn().expect("binary starts");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ready = false;
    for line in lines {
        if line.expect("stdout").contains("query-http listening on") {
            ready = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ready, "server did not start");
}

#[test]
fn flags_beat_environment_which_beats_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (file_db, env_db, flag_db) = (
        dir.path().join("from-file"),
        dir.path().join("from-env"),
        dir.path().join("from-flag"),
    );
    let config = dir.path().join("tracehound.toml");
    std::fs::write(
        &config,
        format!(
            "[rocksdb]\npath = \"{}\"\n\
             [collector.otlp.grpc]\nhost-port = \"127.0.0.1:0\"\n\
             [collector.otlp.http]\nhost-port = \"\"\n\
             [collector.zipkin]\nhost-port = \"\"\n\
             [collector.http-server]\nhost-port = \"\"\n\
             [collector.grpc-server]\nhost-port = \"\"\n\
             [processor.jaeger-compact]\nserver-host-port = \"\"\n\
             [processor.jaeger-binary]\nserver-host-port = \"\"\n\
             [http-server]\nhost-port = \"\"\n\
             [query.http-server]\nhost-port = \"127.0.0.1:0\"\n\
             [query.grpc-server]\nhost-port = \"\"\n\
             [admin.http]\nhost-port = \"\"\n",
            file_db.display()
        ),
    )
    .unwrap();

    run_once(&config, None, None);
    assert!(file_db.is_dir(), "the config file's path was not used");

    run_once(&config, Some(&env_db), None);
    assert!(env_db.is_dir(), "the environment did not override the file");

    run_once(&config, Some(&env_db), Some(&flag_db));
    assert!(
        flag_db.is_dir(),
        "the flag did not override the environment"
    );
    // Each run created only its winner.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}
