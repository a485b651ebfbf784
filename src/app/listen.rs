//! Every listener a role opens, bound before the actix System starts: bind errors surface at
//! once, and tests can ask for `127.0.0.1:0` and read the real port back from [`BoundAddrs`].

use std::net::{SocketAddr, TcpListener, UdpSocket};

use anyhow::Context as _;

use super::Role;
use crate::config::{Config, HostPort};

/// Where each listener ended up (after binding `:0` ports); `None` = disabled.
#[derive(Debug, Clone, Default)]
pub struct BoundAddrs {
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub zipkin_http: Option<SocketAddr>,
    pub jaeger_http: Option<SocketAddr>,
    pub jaeger_grpc: Option<SocketAddr>,
    pub jaeger_compact_udp: Option<SocketAddr>,
    pub jaeger_binary_udp: Option<SocketAddr>,
    pub sampling_http: Option<SocketAddr>,
    pub query_http: Option<SocketAddr>,
    pub query_grpc: Option<SocketAddr>,
    pub storage_grpc: Option<SocketAddr>,
    pub admin_http: Option<SocketAddr>,
}

impl BoundAddrs {
    /// One `tracehound: <name> listening on <addr>` line per listener, on stdout.
    pub fn print(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (name, addr) in [
            ("otlp-grpc", self.otlp_grpc),
            ("otlp-http", self.otlp_http),
            ("zipkin-http", self.zipkin_http),
            ("jaeger-thrift-http", self.jaeger_http),
            ("jaeger-grpc", self.jaeger_grpc),
            ("jaeger-compact-udp", self.jaeger_compact_udp),
            ("jaeger-binary-udp", self.jaeger_binary_udp),
            ("sampling-http", self.sampling_http),
            ("query-http", self.query_http),
            ("query-grpc", self.query_grpc),
            ("remote-storage-grpc", self.storage_grpc),
            ("admin-http", self.admin_http),
        ] {
            if let Some(addr) = addr {
                let _ = writeln!(out, "tracehound: {name} listening on {addr}");
            }
        }
        let _ = out.flush();
    }
}

#[derive(Default)]
pub(super) struct Listeners {
    pub otlp_grpc: Option<TcpListener>,
    pub otlp_http: Option<TcpListener>,
    pub zipkin_http: Option<TcpListener>,
    pub jaeger_http: Option<TcpListener>,
    pub jaeger_grpc: Option<TcpListener>,
    pub jaeger_compact_udp: Option<UdpSocket>,
    pub jaeger_binary_udp: Option<UdpSocket>,
    pub sampling_http: Option<TcpListener>,
    pub query_http: Option<TcpListener>,
    pub query_grpc: Option<TcpListener>,
    pub storage_grpc: Option<TcpListener>,
    pub admin_http: Option<TcpListener>,
}

impl Listeners {
    /// The listeners of a role (the agent has its own, [`Listeners::agent`]).
    pub fn for_role(role: Role, config: &Config) -> anyhow::Result<Listeners> {
        match role {
            Role::AllInOne => Self::all_in_one(config),
            Role::Collector => Ok(Listeners {
                admin_http: admin(config)?,
                ..Self::collector(config)?
            }),
            Role::Query => Ok(Listeners {
                admin_http: admin(config)?,
                ..Self::query(config)?
            }),
            Role::RemoteStorage => Ok(Listeners {
                storage_grpc: tcp("remote-storage gRPC", &config.grpc.host_port)?,
                admin_http: admin(config)?,
                ..Listeners::default()
            }),
        }
    }

    /// Collector, agent listeners, query and admin.
    fn all_in_one(config: &Config) -> anyhow::Result<Listeners> {
        let c = Self::collector(config)?;
        let q = Self::query(config)?;
        Ok(Listeners {
            otlp_grpc: c.otlp_grpc,
            otlp_http: c.otlp_http,
            zipkin_http: c.zipkin_http,
            jaeger_http: c.jaeger_http,
            jaeger_grpc: c.jaeger_grpc,
            query_http: q.query_http,
            query_grpc: q.query_grpc,
            ..Self::agent(config)?
        })
    }

    /// The query HTTP API/UI and query gRPC.
    fn query(config: &Config) -> anyhow::Result<Listeners> {
        let q = &config.query;
        Ok(Listeners {
            query_http: tcp("query HTTP", &q.http_server.host_port)?,
            query_grpc: tcp("query gRPC", &q.grpc_server.host_port)?,
            ..Listeners::default()
        })
    }

    /// The ingest listeners of a collector.
    fn collector(config: &Config) -> anyhow::Result<Listeners> {
        let otlp = &config.collector.otlp;
        let enabled = |hp: &HostPort| -> HostPort {
            if otlp.enabled {
                hp.clone()
            } else {
                HostPort(String::new())
            }
        };
        let c = &config.collector;
        Ok(Listeners {
            otlp_grpc: tcp("OTLP gRPC", &enabled(&otlp.grpc.host_port))?,
            otlp_http: tcp("OTLP HTTP", &enabled(&otlp.http.host_port))?,
            zipkin_http: tcp("Zipkin HTTP", &c.zipkin.host_port)?,
            jaeger_http: tcp("Jaeger Thrift HTTP", &c.http_server.host_port)?,
            jaeger_grpc: tcp("Jaeger gRPC", &c.grpc_server.host_port)?,
            ..Listeners::default()
        })
    }

    /// The agent's UDP servers, its sampling HTTP port and admin.
    pub fn agent(config: &Config) -> anyhow::Result<Listeners> {
        let p = &config.processor;
        Ok(Listeners {
            jaeger_compact_udp: udp("Jaeger compact UDP", &p.jaeger_compact.server_host_port)?,
            jaeger_binary_udp: udp("Jaeger binary UDP", &p.jaeger_binary.server_host_port)?,
            sampling_http: tcp("sampling HTTP", &config.http_server.host_port)?,
            admin_http: admin(config)?,
            ..Listeners::default()
        })
    }

    pub fn addrs(&self) -> BoundAddrs {
        fn t(l: &Option<TcpListener>) -> Option<SocketAddr> {
            l.as_ref().and_then(|l| l.local_addr().ok())
        }
        fn u(l: &Option<UdpSocket>) -> Option<SocketAddr> {
            l.as_ref().and_then(|l| l.local_addr().ok())
        }
        BoundAddrs {
            otlp_grpc: t(&self.otlp_grpc),
            otlp_http: t(&self.otlp_http),
            zipkin_http: t(&self.zipkin_http),
            jaeger_http: t(&self.jaeger_http),
            jaeger_grpc: t(&self.jaeger_grpc),
            jaeger_compact_udp: u(&self.jaeger_compact_udp),
            jaeger_binary_udp: u(&self.jaeger_binary_udp),
            sampling_http: t(&self.sampling_http),
            query_http: t(&self.query_http),
            query_grpc: t(&self.query_grpc),
            storage_grpc: t(&self.storage_grpc),
            admin_http: t(&self.admin_http),
        }
    }
}

fn admin(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    tcp("admin HTTP", &config.admin.http.host_port)
}

fn tcp(name: &str, hp: &HostPort) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = hp.resolve().map_err(anyhow::Error::msg)? else {
        return Ok(None);
    };
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} ({name})"))?;
    // Accepted sockets inherit TCP_NODELAY on Linux. Without it, a response written in two
    // segments on a keep-alive connection waits for the client's delayed ACK (~40 ms).
    socket2::SockRef::from(&l)
        .set_tcp_nodelay(true)
        .with_context(|| format!("cannot set TCP_NODELAY on {addr} ({name})"))?;
    Ok(Some(l))
}

fn udp(name: &str, hp: &HostPort) -> anyhow::Result<Option<UdpSocket>> {
    let Some(addr) = hp.resolve().map_err(anyhow::Error::msg)? else {
        return Ok(None);
    };
    let s = UdpSocket::bind(addr).with_context(|| format!("cannot listen on {addr} ({name})"))?;
    // Bursts of datagrams must not be dropped by the kernel before the reader gets to them;
    // best effort (the kernel caps it at net.core.rmem_max).
    let _ = socket2::SockRef::from(&s).set_recv_buffer_size(4 << 20);
    Ok(Some(s))
}
