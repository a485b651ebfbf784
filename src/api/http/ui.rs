//! The Jaeger UI: static assets from `--query.static-files` and `index.html` for every other
//! non-API path (single-page app), with Jaeger's injections applied once at start-up:
//! UI config (`JAEGER_CONFIG` JSON or the `// JAEGER_CONFIG_JS` line), backend capabilities,
//! version, and the `<base href="/"` rewrite for a base path (UIs ≤ v2.17 need it; newer ones
//! detect the prefix themselves). Without `--query.static-files`, a small built-in page says
//! how to attach a UI build.

use std::path::{Path, PathBuf};

use actix_web::{web, HttpResponse};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum UiError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("UI config {path} must be a .json or .js file")]
    ConfigKind { path: String },
    #[error("UI config {path} is not a JSON object: {detail}")]
    ConfigJson { path: String, detail: String },
}

/// What the UI routes serve.
pub struct UiState {
    pub index_html: String,
    pub assets: Option<PathBuf>,
}

fn read(path: &Path) -> Result<String, UiError> {
    std::fs::read_to_string(path).map_err(|source| UiError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Capabilities this backend reports to the UI (the "Archive Trace" button needs
/// `archiveStorage`).
fn capabilities(archive: bool) -> serde_json::Value {
    serde_json::json!({
        "archiveStorage": archive,
        "metricsStorage": false,
        "aiAssistant": false,
        "searchWithoutServiceName": true,
    })
}

impl UiState {
    /// Builds the served index.html from a UI build directory (or the built-in page).
    pub fn load(
        static_files: Option<&Path>,
        ui_config: Option<&Path>,
        base_prefix: &str,
        archive: bool,
    ) -> Result<UiState, UiError> {
        let Some(dir) = static_files else {
            return Ok(UiState {
                index_html: builtin_page(base_prefix),
                assets: None,
            });
        };
        let mut html = read(&dir.join("index.html"))?;
        if let Some(cfg_path) = ui_config {
            let text = read(cfg_path)?;
            let ext = cfg_path.extension().and_then(|e| e.to_str()).unwrap_or("");
            match ext {
                "json" => {
                    let v: serde_json::Value =
                        serde_json::from_str(&text).map_err(|e| UiError::ConfigJson {
                            path: cfg_path.display().to_string(),
                            detail: e.to_string(),
                        })?;
                    if !v.is_object() {
                        return Err(UiError::ConfigJson {
                            path: cfg_path.display().to_string(),
                            detail: "top level is not an object".into(),
                        });
                    }
                    html = html.replace(
                        "const JAEGER_CONFIG = DEFAULT_CONFIG;",
                        &format!("const JAEGER_CONFIG = {v};"),
                    );
                }
                "js" => html = html.replace("// JAEGER_CONFIG_JS", &text),
                _ => {
                    return Err(UiError::ConfigKind {
                        path: cfg_path.display().to_string(),
                    })
                }
            }
        }
        let caps = capabilities(archive);
        html = html
            .replace(
                "const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;",
                &format!("const JAEGER_BACKEND_CAPABILITIES = {caps};"),
            )
            .replace(
                "const JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;",
                &format!(
                    "const JAEGER_STORAGE_CAPABILITIES = {};",
                    serde_json::json!({"archiveStorage": archive, "metricsStorage": false})
                ),
            )
            .replace(
                "const JAEGER_VERSION = DEFAULT_VERSION;",
                &format!(
                    "const JAEGER_VERSION = {};",
                    serde_json::json!({
                        "gitCommit": "",
                        "gitVersion": concat!("tracehound-v", env!("CARGO_PKG_VERSION")),
                        "buildDate": "",
                    })
                ),
            );
        if !base_prefix.is_empty() {
            html = html.replace(
                "<base href=\"/\"",
                &format!("<base href=\"{base_prefix}/\""),
            );
        }
        Ok(UiState {
            index_html: html,
            assets: Some(dir.to_path_buf()),
        })
    }
}

fn builtin_page(base: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tracehound</title></head>\
<body><h1>tracehound</h1><p>The Jaeger query API is served here: \
<a href=\"{base}/api/services\">{base}/api/services</a>, \
<a href=\"{base}/api/v3/services\">{base}/api/v3/services</a>.</p>\
<p>To use the Jaeger UI, start tracehound with <code>--query.static-files=DIR</code> pointing at \
a Jaeger UI build (the directory holding <code>index.html</code> and <code>static/</code>).</p>\
</body></html>"
    )
}

/// Static assets (when a UI build is configured) and the SPA fallback.
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<UiState>) {
    if let Some(dir) = &state.assets {
        let static_dir = dir.join("static");
        if static_dir.is_dir() {
            cfg.service(actix_files::Files::new("/static", static_dir).use_etag(true));
        }
    }
    cfg.default_service(web::to(index));
}

async fn index(state: web::Data<UiState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(state.index_html.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_config_capabilities_version_and_base_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<base href=\"/\" data-inject-target=\"BASE_URL\"/><script>\
const JAEGER_CONFIG = DEFAULT_CONFIG;\
const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;\
const JAEGER_VERSION = DEFAULT_VERSION;</script>",
        )
        .unwrap();
        let cfg = dir.path().join("ui.json");
        std::fs::write(&cfg, r#"{"menu":[]}"#).unwrap();
        let ui = UiState::load(Some(dir.path()), Some(&cfg), "/jaeger", true).unwrap();
        let h = &ui.index_html;
        assert!(h.contains(r#"const JAEGER_CONFIG = {"menu":[]};"#), "{h}");
        assert!(h.contains("\"searchWithoutServiceName\":true"), "{h}");
        assert!(h.contains("\"archiveStorage\":true"), "{h}");
        assert!(h.contains("tracehound-v"), "{h}");
        assert!(h.contains("<base href=\"/jaeger/\""), "{h}");
        assert!(!h.contains("DEFAULT_"), "{h}");
    }

    #[test]
    fn rejects_a_ui_config_that_is_not_an_object() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "x").unwrap();
        let cfg = dir.path().join("ui.json");
        std::fs::write(&cfg, "[1]").unwrap();
        assert!(UiState::load(Some(dir.path()), Some(&cfg), "", false).is_err());
    }
}
