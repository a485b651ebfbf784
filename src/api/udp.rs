//! The Jaeger agent's UDP servers: `Agent.emitBatch` in Thrift compact (`:6831`) or binary
//! (`:6832`), one complete Thrift message per datagram, no reply.
//!
//! A reader task receives datagrams into a bounded packet queue (`server-queue-size`); worker
//! tasks (`workers`) decode them with the one Jaeger Thrift decoder and hand the batch to a
//! [`BatchSink`]: the ingest edge in all-in-one (store, wait until durable) or the reporter in
//! the agent role (forward to a collector). UDP cannot refuse, so everything that cannot be
//! delivered is counted in `tracehound_udp_packets_dropped_total{reason}` and the listener keeps
//! running: a full queue, an oversized or undecodable datagram, a batch the sink gave up on.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;

use crate::config::UdpServerConfig;
use crate::ingest::jaeger::thrift::{decode_agent_message, ThriftProtocol};
use crate::proto::api_v2;
use crate::telemetry::{DropReason, Metrics, Protocol};

/// Where decoded batches go.
pub trait BatchSink: Send + Sync + 'static {
    /// Delivers one batch; resolves once it is stored/forwarded. `Err` means it was given up on
    /// (the message says why; the datagram is counted as dropped).
    fn deliver(
        &self,
        batch: api_v2::Batch,
        protocol: Protocol,
    ) -> BoxFuture<'static, Result<(), String>>;
}

/// The metrics label of each Thrift protocol on UDP.
pub fn udp_protocol(p: ThriftProtocol) -> Protocol {
    match p {
        ThriftProtocol::Compact => Protocol::jaeger_udp_compact,
        ThriftProtocol::Binary => Protocol::jaeger_udp_binary,
    }
}

/// A running UDP server.
pub struct UdpServer {
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    reader: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl UdpServer {
    /// Starts serving on an already bound socket (inside a tokio runtime).
    pub fn start(
        socket: UdpSocket,
        protocol: ThriftProtocol,
        cfg: &UdpServerConfig,
        sink: Arc<dyn BatchSink>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<UdpServer> {
        socket.set_nonblocking(true)?;
        let local_addr = socket.local_addr()?;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let (stop, stopped) = watch::channel(false);
        let (tx, rx) = mpsc::channel::<Vec<u8>>(cfg.server_queue_size);
        let rx = Arc::new(Mutex::new(rx));
        let label = udp_protocol(protocol);
        let reader = tokio::spawn(read_loop(
            socket,
            cfg.server_max_packet_size,
            tx,
            stopped,
            label,
            metrics.clone(),
        ));
        let workers = (0..cfg.workers)
            .map(|_| {
                tokio::spawn(work_loop(
                    rx.clone(),
                    protocol,
                    sink.clone(),
                    metrics.clone(),
                ))
            })
            .collect();
        Ok(UdpServer {
            local_addr,
            stop,
            reader,
            workers,
        })
    }

    /// Stops receiving, lets the workers finish the queued datagrams, and returns when they have.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.reader.await;
        for w in self.workers {
            let _ = w.await;
        }
    }
}

async fn read_loop(
    socket: tokio::net::UdpSocket,
    max_packet: usize,
    queue: mpsc::Sender<Vec<u8>>,
    mut stopped: watch::Receiver<bool>,
    protocol: Protocol,
    metrics: Arc<Metrics>,
) {
    let labels = crate::telemetry::ProtocolLabels { protocol };
    // One byte more than allowed, so an oversized datagram is recognised rather than truncated.
    let mut buf = vec![0u8; max_packet + 1];
    loop {
        let received = tokio::select! {
            _ = stopped.changed() => break,
            r = socket.recv_from(&mut buf) => r,
        };
        let n = match received {
            Ok((n, _)) => n,
            Err(e) => {
                // E.g. ICMP errors surfacing on the socket; the listener keeps running.
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        };
        metrics.packets_received.get_or_create(&labels).inc();
        metrics
            .bytes_received
            .get_or_create(&labels)
            .inc_by(n as u64);
        if n > max_packet {
            metrics.dropped(protocol, DropReason::too_large);
            continue;
        }
        if queue.try_send(buf[..n].to_vec()).is_err() {
            metrics.dropped(protocol, DropReason::queue_full);
        }
    }
}

async fn work_loop(
    queue: Arc<Mutex<mpsc::Receiver<Vec<u8>>>>,
    protocol: ThriftProtocol,
    sink: Arc<dyn BatchSink>,
    metrics: Arc<Metrics>,
) {
    let label = udp_protocol(protocol);
    loop {
        // The lock is held only while waiting for the next datagram, not while delivering.
        let Some(packet) = queue.lock().await.recv().await else {
            return;
        };
        let batch = match decode_agent_message(protocol, &packet) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::debug!(error = %e, ?protocol, "undecodable UDP datagram dropped");
                metrics.dropped(label, DropReason::invalid);
                continue;
            }
        };
        if let Err(e) = sink.deliver(batch, label).await {
            tracing::warn!(error = %e, ?protocol, "UDP batch dropped");
            metrics.dropped(label, DropReason::not_delivered);
        }
    }
}
