//! Zipkin v1 → the v2 shape, shared by the v1 JSON and v1 Thrift decoders.
//!
//! The mapping Zipkin (and Jaeger's legacy converter) apply:
//! * core annotations give the kind and timing: `cs`/`cr` → CLIENT from `cs` to `cr`,
//!   `sr`/`ss` → SERVER from `sr` to `ss`, `ms` → PRODUCER, `mr` → CONSUMER; the local endpoint
//!   is the core annotation's host;
//! * a span carrying both client and server annotations (a v1 span shared by both sides) becomes
//!   two spans with the same ID: the client span and a `shared` server span; other annotations
//!   and binary annotations go to the server span when their host is the server's, else to the
//!   client span;
//! * an explicit `timestamp`/`duration` wins over the core annotations (for the client span of a
//!   shared pair — the client owns the span's timing in v1);
//! * binary annotations `sa`/`ca`/`ma` are the remote endpoint (server address of a client span,
//!   client address of a server span, broker of a messaging span); `lc` (local component) stays
//!   a tag, and its host is the local endpoint of a span without core annotations; other binary
//!   annotations → tags (values as strings); other annotations → v2 annotations.

use super::{Annotation, Endpoint, Entry, Kind, SpanProblem, ZipkinSpan};
use crate::model::{SpanId, TraceId};

/// A v1 span with validated IDs, as both v1 decoders produce it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct V1Span {
    pub trace_id: TraceId,
    pub id: SpanId,
    pub parent_id: SpanId,
    pub name: String,
    pub timestamp_us: Option<u64>,
    pub duration_us: Option<u64>,
    pub annotations: Vec<V1Annotation>,
    pub binary_annotations: Vec<V1BinaryAnnotation>,
    pub debug: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct V1Annotation {
    pub timestamp_us: u64,
    pub value: String,
    pub endpoint: Option<Endpoint>,
}

/// A binary annotation with its value already rendered as a string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct V1BinaryAnnotation {
    pub key: String,
    pub value: String,
    pub endpoint: Option<Endpoint>,
}

/// Maps one decoded v1 span (or its problem) to one or two entries with the request index.
pub fn push_entries(index: usize, span: Result<V1Span, SpanProblem>, out: &mut Vec<Entry>) {
    match span {
        Err(problem) => out.push(Entry {
            index,
            span: Err(problem),
        }),
        Ok(span) => {
            let (first, second) = to_v2(span);
            out.push(Entry {
                index,
                span: Ok(first),
            });
            if let Some(second) = second {
                out.push(Entry {
                    index,
                    span: Ok(second),
                });
            }
        }
    }
}

#[derive(Clone)]
struct Core {
    timestamp_us: u64,
    endpoint: Option<Endpoint>,
}

/// One side of a v1 span: its kind and the core annotations that start and end it.
struct Side {
    kind: Kind,
    start: Option<Core>,
    end: Option<Core>,
    remote: Option<Endpoint>,
}

impl Side {
    fn local(&self) -> Option<Endpoint> {
        let start = self.start.as_ref().and_then(|c| c.endpoint.clone());
        start.or_else(|| self.end.as_ref().and_then(|c| c.endpoint.clone()))
    }

    /// (timestamp, duration) from the core annotations.
    fn timing(&self) -> (Option<u64>, Option<u64>) {
        let start = self.start.as_ref().map(|c| c.timestamp_us);
        let end = self.end.as_ref().map(|c| c.timestamp_us);
        let duration = match (start, end) {
            (Some(s), Some(e)) if e >= s => Some(e - s),
            _ => None,
        };
        (start, duration)
    }

    fn is_present(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }
}

/// The v2 span(s) of one v1 span: one, or two for a span shared by client and server.
pub fn to_v2(s: V1Span) -> (ZipkinSpan, Option<ZipkinSpan>) {
    let mut core: [Option<Core>; 6] = Default::default(); // cs cr sr ss ms mr
    let mut others = Vec::new();
    for a in s.annotations {
        let slot = match a.value.as_str() {
            "cs" => 0,
            "cr" => 1,
            "sr" => 2,
            "ss" => 3,
            "ms" => 4,
            "mr" => 5,
            _ => {
                others.push(a);
                continue;
            }
        };
        if core[slot].is_none() {
            core[slot] = Some(Core {
                timestamp_us: a.timestamp_us,
                endpoint: a.endpoint,
            });
        }
    }
    let (mut sa, mut ca, mut ma, mut lc) = (None, None, None, None);
    let mut tags = Vec::new();
    for b in s.binary_annotations {
        match b.key.as_str() {
            "sa" => sa = sa.or(b.endpoint),
            "ca" => ca = ca.or(b.endpoint),
            "ma" => ma = ma.or(b.endpoint),
            _ => {
                if b.key == "lc" && lc.is_none() {
                    lc = b.endpoint.clone();
                }
                tags.push(b);
            }
        }
    }
    let [cs, cr, sr, ss, ms, mr] = core;
    let client = Side {
        kind: Kind::Client,
        start: cs,
        end: cr,
        remote: sa.clone(),
    };
    let server = Side {
        kind: Kind::Server,
        start: sr,
        end: ss,
        remote: ca.clone(),
    };
    let producer = Side {
        kind: Kind::Producer,
        start: ms,
        end: None,
        remote: ma.clone(),
    };
    let consumer = Side {
        kind: Kind::Consumer,
        start: mr,
        end: None,
        remote: ma.clone(),
    };
    let sides: Vec<Side> = [client, server, producer, consumer]
        .into_iter()
        .filter(Side::is_present)
        .collect();

    let base = ZipkinSpan {
        trace_id: s.trace_id,
        id: s.id,
        parent_id: s.parent_id,
        name: s.name,
        debug: s.debug,
        ..ZipkinSpan::default()
    };
    let explicit = (s.timestamp_us, s.duration_us);
    let mut sides = sides.into_iter();
    let (mut first, second) = match (sides.next(), sides.next()) {
        (None, _) => {
            // No core annotation: a local span, or one only described by its hosts.
            let local = lc
                .clone()
                .or_else(|| others.iter().find_map(|a| a.endpoint.clone()))
                .or_else(|| tags.iter().find_map(|b| b.endpoint.clone()));
            let mut span = base;
            span.local_endpoint = local;
            span.remote_endpoint = sa.or(ca).or(ma);
            span.timestamp_us = explicit.0;
            span.duration_us = explicit.1;
            (span, None)
        }
        (Some(side), None) => (side_span(&base, &side, explicit, lc.clone()), None),
        // Two sides (client + server, or producer + consumer): the first owns the explicit
        // timing, the second is the shared half.
        (Some(a), Some(b)) => {
            let first = side_span(&base, &a, explicit, lc.clone());
            let mut second = side_span(&base, &b, (None, None), None);
            second.shared = true;
            (first, Some(second))
        }
    };
    let mut second = second;
    for a in others {
        let annotation = Annotation {
            timestamp_us: a.timestamp_us,
            value: a.value,
        };
        match &mut second {
            Some(sec) if a.endpoint.is_some() && a.endpoint == sec.local_endpoint => {
                sec.annotations.push(annotation)
            }
            _ => first.annotations.push(annotation),
        }
    }
    for b in tags {
        match &mut second {
            Some(sec) if b.endpoint.is_some() && b.endpoint == sec.local_endpoint => {
                sec.tags.push((b.key, b.value))
            }
            _ => first.tags.push((b.key, b.value)),
        }
    }
    (first, second)
}

fn side_span(
    base: &ZipkinSpan,
    side: &Side,
    explicit: (Option<u64>, Option<u64>),
    fallback_local: Option<Endpoint>,
) -> ZipkinSpan {
    let (ts, dur) = side.timing();
    ZipkinSpan {
        kind: Some(side.kind),
        timestamp_us: explicit.0.or(ts),
        duration_us: explicit.1.or(dur),
        local_endpoint: side.local().or(fallback_local),
        remote_endpoint: side.remote.clone(),
        ..base.clone()
    }
}
