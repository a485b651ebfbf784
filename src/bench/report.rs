//! `tracehound bench report`: bytes on disk per stored span (everything in the data
//! directory, measured once its size stops changing) and the server's peak resident memory.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

#[derive(Debug, Clone, serde::Serialize)]
pub struct DiskReport {
    pub bytes_on_disk: u64,
    pub spans: Option<u64>,
    pub bytes_per_span: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
}

/// Total size of the regular files under `dir`.
pub fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += dir_size(&entry.path())?;
        } else {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Waits until the directory size is unchanged over `quiet` (at most `limit`), then returns it.
pub fn settled_size(dir: &Path, quiet: Duration, limit: Duration) -> std::io::Result<u64> {
    let deadline = Instant::now() + limit;
    let mut last = dir_size(dir)?;
    loop {
        std::thread::sleep(quiet);
        let now = dir_size(dir)?;
        if now == last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// (peak, current) resident set size of a process, from /proc.
pub fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Ok((field("VmHWM:").unwrap_or(0), field("VmRSS:").unwrap_or(0)))
}

/// `tracehound_ingest_spans_stored_total`, summed over protocols, from an admin endpoint.
pub async fn stored_spans(admin: &str) -> anyhow::Result<u64> {
    let url = if admin.contains("://") {
        format!("{admin}/metrics")
    } else {
        format!("http://{admin}/metrics")
    };
    let text = reqwest::get(&url).await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("tracehound_ingest_spans_stored_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

impl DiskReport {
    pub fn table(&self) -> String {
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        let mut out = format!(
            "storage\n  bytes on disk       {} ({:.1} MiB)\n",
            self.bytes_on_disk,
            mb(self.bytes_on_disk)
        );
        if let (Some(spans), Some(bps)) = (self.spans, self.bytes_per_span) {
            out += &format!("  spans stored        {spans}\n  bytes per span      {bps:.1}\n");
        }
        if let (Some(peak), Some(cur)) = (self.peak_rss_bytes, self.rss_bytes) {
            out += &format!(
                "  peak RSS            {:.1} MiB (now {:.1} MiB)\n",
                mb(peak),
                mb(cur)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_every_file_recursively() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), vec![0u8; 100]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), vec![0u8; 23]).unwrap();
        assert_eq!(dir_size(d.path()).unwrap(), 123);
    }

    #[test]
    fn reads_own_rss() {
        let (peak, now) = rss(std::process::id()).unwrap();
        assert!(peak >= now && now > 0);
    }
}
