//! Generated protobuf and gRPC types of the Jaeger APIs (from `proto/`, by `build.rs`).
//! Only wire types live here; conversions are in `ingest`, `api` and `storage::grpc`.
//! OTLP messages inside them are the opentelemetry-proto crate's types.

/// `jaeger.api_v2`: the span model, CollectorService, SamplingManager and QueryService.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v2 {
    tonic::include_proto!("jaeger.api_v2");
}

/// `jaeger.api_v3`: the OTLP-based QueryService.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v3 {
    tonic::include_proto!("jaeger.api_v3");
}

/// `jaeger.storage.v1` and `jaeger.storage.v2`: the remote-storage APIs.
pub mod storage {
    /// The v1 plugin services (span writer, reader, archive, dependencies, capabilities).
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("jaeger.storage.v1");
    }

    /// The v2 TraceReader, DependencyReader and Capabilities services.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v2 {
        tonic::include_proto!("jaeger.storage.v2");
    }
}

/// Every compiled `.proto` file (with imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tracehound_descriptor");

/// Timestamps and durations of the Jaeger protos as Unix nanoseconds, with Go's conventions:
/// Go always sends its non-nullable times, an unset one as year 1 (`-62135596800` s), and a
/// zero duration as an empty message; both mean "not given".
pub mod time {
    use prost_types::{Duration, Timestamp};

    /// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) since the Unix epoch.
    pub const GO_ZERO_TIME_SECS: i64 = -62_135_596_800;

    /// `None` when absent, Go's zero time, or before the epoch.
    pub fn timestamp_ns(t: Option<&Timestamp>) -> Option<u64> {
        let t = t?;
        if t.seconds <= GO_ZERO_TIME_SECS || t.seconds < 0 || t.nanos < 0 {
            return None;
        }
        Some((t.seconds as u64).saturating_mul(1_000_000_000) + t.nanos as u64)
    }

    pub fn timestamp(ns: u64) -> Timestamp {
        Timestamp {
            seconds: (ns / 1_000_000_000) as i64,
            nanos: (ns % 1_000_000_000) as i32,
        }
    }

    /// `None` when absent, zero or negative.
    pub fn duration_ns(d: Option<&Duration>) -> Option<u64> {
        let d = d?;
        if d.seconds < 0 || d.nanos < 0 || (d.seconds == 0 && d.nanos == 0) {
            return None;
        }
        Some((d.seconds as u64).saturating_mul(1_000_000_000) + d.nanos as u64)
    }

    pub fn duration(ns: u64) -> Duration {
        Duration {
            seconds: (ns / 1_000_000_000) as i64,
            nanos: (ns % 1_000_000_000) as i32,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn go_unset_values_mean_not_given() {
            let go_zero = Timestamp {
                seconds: GO_ZERO_TIME_SECS,
                nanos: 0,
            };
            assert_eq!(timestamp_ns(Some(&go_zero)), None);
            assert_eq!(timestamp_ns(None), None);
            assert_eq!(duration_ns(Some(&Duration::default())), None);
            let ns = 1_700_000_000_123_456_789;
            assert_eq!(timestamp_ns(Some(&timestamp(ns))), Some(ns));
            assert_eq!(
                duration_ns(Some(&duration(1_500_000_000))),
                Some(1_500_000_000)
            );
        }
    }
}
