//! The reference workload of DESIGN.md, generated deterministically from a seed.
//!
//! Each trace is a pure function of (seed, index), so the query benchmark can regenerate any
//! trace it wants to look for without replaying the others. Root start times are a jittered
//! uniform grid over the 10-day window: uniform within each trace's slot and strictly in
//! start-time order, which is how the workload is sent.
//!
//! Pinned: 1 root + 9 children; a child's parent is uniform among the earlier spans; a child
//! starts 1 ns + U(0, 0.3)·(parent duration) after its parent and lasts U(0.3, 0.65)·(parent
//! duration); roots last log-uniform 10–500 ms and are of kind server; children are
//! server/client/internal 40/40/20 %; status unset/ok/error 97/1/2 %; each span picks one of 10
//! services, then one of its 5 operations; 11 distinct string attributes from 97 keys with
//! values uniform over 1,000; random 16-byte trace and 8-byte span IDs.

use rand::{Rng, RngCore, SeedableRng};
use rand_pcg::Pcg64;

pub const SPANS_PER_TRACE: usize = 10;
pub const SERVICES: usize = 10;
pub const OPERATIONS_PER_SERVICE: usize = 5;
pub const ATTRIBUTE_KEYS: usize = 97;
pub const ATTRIBUTE_VALUES: usize = 1_000;
pub const ATTRIBUTES_PER_SPAN: usize = 11;
pub const WINDOW_NS: u64 = 10 * 86_400 * 1_000_000_000;

/// The workload: `traces` traces whose root starts lie in the 10 days before `end_ns`.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub traces: u64,
    pub seed: u64,
    pub end_ns: u64,
}

/// Kinds as OTLP numbers.
pub const KIND_INTERNAL: u8 = 1;
pub const KIND_SERVER: u8 = 2;
pub const KIND_CLIENT: u8 = 3;
/// Status codes as OTLP numbers.
pub const STATUS_OK: u8 = 1;
pub const STATUS_ERROR: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct GenSpan {
    pub span_id: [u8; 8],
    /// Index of the parent span in the trace; None for the root.
    pub parent: Option<usize>,
    pub service: u8,
    pub operation: u8,
    pub kind: u8,
    pub status: u8,
    pub start_ns: u64,
    pub end_ns: u64,
    /// (key index, value index), keys distinct.
    pub attributes: [(u8, u16); ATTRIBUTES_PER_SPAN],
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenTrace {
    pub trace_id: [u8; 16],
    pub spans: Vec<GenSpan>,
}

pub fn service_name(i: u8) -> String {
    format!("service-{i}")
}

pub fn operation_name(service: u8, op: u8) -> String {
    format!("service-{service}-op-{op}")
}

pub fn attribute_key(i: u8) -> String {
    format!("attr.key_{i:02}")
}

pub fn attribute_value(i: u16) -> String {
    format!("value-{i:03}")
}

/// SplitMix64: decorrelates per-trace seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Workload {
    pub fn start_ns(&self) -> u64 {
        self.end_ns.saturating_sub(WINDOW_NS)
    }

    /// Trace `index` (0-based), identical for the same (seed, traces, end_ns).
    pub fn trace(&self, index: u64) -> GenTrace {
        let mut rng = Pcg64::seed_from_u64(mix(self.seed ^ mix(index)));
        let slot = WINDOW_NS as f64 / self.traces.max(1) as f64;
        let root_start = self.start_ns() + ((index as f64 + rng.random::<f64>()) * slot) as u64;
        let mut trace_id = [0u8; 16];
        rng.fill_bytes(&mut trace_id);
        let (lo, hi) = ((10e6f64).ln(), (500e6f64).ln());
        let root_dur = (lo + rng.random::<f64>() * (hi - lo)).exp() as u64;
        let mut spans: Vec<GenSpan> = Vec::with_capacity(SPANS_PER_TRACE);
        for i in 0..SPANS_PER_TRACE {
            let (parent, start_ns, dur) = if i == 0 {
                (None, root_start, root_dur)
            } else {
                let p = rng.random_range(0..i);
                let pd = spans[p].end_ns - spans[p].start_ns;
                let start = spans[p].start_ns + 1 + (rng.random::<f64>() * 0.3 * pd as f64) as u64;
                let dur = ((0.3 + rng.random::<f64>() * 0.35) * pd as f64) as u64;
                (Some(p), start, dur)
            };
            let kind = if i == 0 {
                KIND_SERVER
            } else {
                match rng.random_range(0..100u8) {
                    0..40 => KIND_SERVER,
                    40..80 => KIND_CLIENT,
                    _ => KIND_INTERNAL,
                }
            };
            let status = match rng.random_range(0..100u8) {
                0 => STATUS_OK,
                1 | 2 => STATUS_ERROR,
                _ => 0,
            };
            let service = rng.random_range(0..SERVICES as u8);
            let operation = rng.random_range(0..OPERATIONS_PER_SERVICE as u8);
            // 11 distinct keys: a partial Fisher–Yates shuffle of the 97 keys.
            let mut keys: [u8; ATTRIBUTE_KEYS] = std::array::from_fn(|k| k as u8);
            let mut attributes = [(0u8, 0u16); ATTRIBUTES_PER_SPAN];
            for (a, slot) in attributes.iter_mut().enumerate() {
                let j = rng.random_range(a..ATTRIBUTE_KEYS);
                keys.swap(a, j);
                *slot = (keys[a], rng.random_range(0..ATTRIBUTE_VALUES as u16));
            }
            let mut span_id = [0u8; 8];
            rng.fill_bytes(&mut span_id);
            spans.push(GenSpan {
                span_id,
                parent,
                service,
                operation,
                kind,
                status,
                start_ns,
                end_ns: start_ns + dur,
                attributes,
            });
        }
        GenTrace { trace_id, spans }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> Workload {
        Workload {
            traces: 1000,
            seed: 7,
            end_ns: 2_000_000_000_000_000_000,
        }
    }

    #[test]
    fn traces_are_deterministic_and_in_start_order() {
        let w = w();
        assert_eq!(w.trace(5), w.trace(5));
        assert_ne!(w.trace(5).trace_id, w.trace(6).trace_id);
        let starts: Vec<u64> = (0..1000).map(|i| w.trace(i).spans[0].start_ns).collect();
        assert!(starts.windows(2).all(|p| p[0] <= p[1]));
        assert!(starts[0] >= w.start_ns() && starts[999] <= w.end_ns);
    }

    #[test]
    fn spans_follow_the_pinned_shape() {
        let w = w();
        let mut kinds = [0u32; 4];
        let mut errors = 0;
        for i in 0..1000 {
            let t = w.trace(i);
            assert_eq!(t.spans.len(), SPANS_PER_TRACE);
            let root = &t.spans[0];
            let d = root.end_ns - root.start_ns;
            assert!((10_000_000..=500_000_000).contains(&d), "{d}");
            assert_eq!(root.kind, KIND_SERVER);
            for (i, s) in t.spans.iter().enumerate().skip(1) {
                let p = &t.spans[s.parent.unwrap()];
                assert!(s.parent.unwrap() < i);
                let pd = (p.end_ns - p.start_ns) as f64;
                let off = (s.start_ns - p.start_ns) as f64;
                assert!(off >= 1.0 && off <= 1.0 + 0.3 * pd);
                let dur = (s.end_ns - s.start_ns) as f64;
                assert!(dur >= 0.3 * pd - 1.0 && dur <= 0.65 * pd);
                kinds[s.kind as usize] += 1;
            }
            for s in &t.spans {
                let mut keys: Vec<u8> = s.attributes.iter().map(|a| a.0).collect();
                keys.sort();
                keys.dedup();
                assert_eq!(keys.len(), ATTRIBUTES_PER_SPAN);
                assert!(keys.iter().all(|&k| (k as usize) < ATTRIBUTE_KEYS));
                errors += (s.status == STATUS_ERROR) as u32;
            }
        }
        // 9000 children: 40/40/20 within a generous tolerance.
        assert!(
            (3300..3900).contains(&kinds[KIND_SERVER as usize]),
            "{kinds:?}"
        );
        assert!(
            (3300..3900).contains(&kinds[KIND_CLIENT as usize]),
            "{kinds:?}"
        );
        assert!(
            (1500..2100).contains(&kinds[KIND_INTERNAL as usize]),
            "{kinds:?}"
        );
        assert!((100..320).contains(&errors), "{errors}");
    }
}
