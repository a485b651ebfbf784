//! The real `tracehound` binary as a child process: started with the given flags (every
//! listener a test does not name is turned off, the named ones bind 127.0.0.1), its listen
//! addresses read from the `tracehound: <name> listening on <addr>` lines, killed on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Every listener flag of every role, set empty (off) unless a test gives it.
const LISTENERS: &[(&str, &[&str])] = &[
    (
        "all-in-one",
        &[
            "collector.otlp.grpc.host-port",
            "collector.otlp.http.host-port",
            "collector.zipkin.host-port",
            "collector.http-server.host-port",
            "collector.grpc-server.host-port",
            "processor.jaeger-compact.server-host-port",
            "processor.jaeger-binary.server-host-port",
            "http-server.host-port",
            "query.http-server.host-port",
            "query.grpc-server.host-port",
            "admin.http.host-port",
        ],
    ),
    (
        "collector",
        &[
            "collector.otlp.grpc.host-port",
            "collector.otlp.http.host-port",
            "collector.zipkin.host-port",
            "collector.http-server.host-port",
            "collector.grpc-server.host-port",
            "admin.http.host-port",
        ],
    ),
    (
        "query",
        &[
            "query.http-server.host-port",
            "query.grpc-server.host-port",
            "admin.http.host-port",
        ],
    ),
    (
        "remote-storage",
        &["grpc.host-port", "admin.http.host-port"],
    ),
];

pub struct Process {
    child: Child,
    /// Listener name (as printed, e.g. `otlp-grpc`) → address.
    pub addrs: HashMap<String, String>,
}

impl Process {
    /// Starts `tracehound <role>` with `flags` (`--name=value`). `listen` names the listener
    /// flags to bind on 127.0.0.1 with a free port (or `addr` given as `flag=addr`); the others
    /// are turned off. Returns once every listener has printed its address.
    pub fn start(role: &str, listen: &[&str], flags: &[String]) -> Process {
        let all = LISTENERS
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, l)| *l)
            .expect("known role");
        let mut args: Vec<String> = vec![role.to_string(), "--log-level=warn".into()];
        let mut expected = 0;
        for flag in all {
            let given = listen.iter().find_map(|l| {
                let (name, addr) = l.split_once('=').unwrap_or((l, "127.0.0.1:0"));
                (name == *flag).then_some(addr)
            });
            match given {
                Some(addr) => {
                    args.push(format!("--{flag}={addr}"));
                    expected += 1;
                }
                None => args.push(format!("--{flag}=")),
            }
        }
        args.extend(flags.iter().cloned());
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracehound"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the tracehound binary starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut addrs = HashMap::new();
        while addrs.len() < expected {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => {
                    let status = child.wait().ok();
                    panic!("tracehound {role} exited before listening ({status:?}): {args:?}");
                }
            };
            if let Some((name, addr)) = line
                .strip_prefix("tracehound: ")
                .and_then(|rest| rest.split_once(" listening on "))
            {
                addrs.insert(name.to_string(), addr.to_string());
            }
        }
        Process { child, addrs }
    }

    /// The address a listener printed (`otlp-grpc`, `query-http`, `remote-storage-grpc`, …).
    pub fn addr(&self, name: &str) -> &str {
        self.addrs
            .get(name)
            .unwrap_or_else(|| panic!("no {name} listener in {:?}", self.addrs))
    }

    /// SIGKILL, then wait for the exit.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
