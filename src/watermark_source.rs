//! The configured watermark image (`IMGPROXY_WATERMARK_DATA` base64, `_PATH`, `_URL`, in imgproxy's
//! order of precedence), loaded lazily on first use and kept for the life of the process.
//!
//! Lazily, not at start-up, so a slow or failing watermark URL never delays or breaks start-up (and a
//! Lambda cold start pays nothing until a request asks for `wm`); a URL is fetched once through the
//! same guarded source fetchers as any request (allowed sources, SSRF checks, size limit). A watermark
//! that cannot be loaded is logged and requests are served without it, as imgproxy does with no
//! watermark configured. The pipeline sees only the bytes, attached to the plan by the request flow.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::Config;
use crate::plan::{Plan, SourceRef};
use crate::source::Sources;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Data(Arc<Vec<u8>>),
    Path(PathBuf),
    Url(String),
}

/// The configured watermark, if any.
pub struct WatermarkSource {
    origin: Option<Origin>,
    loaded: OnceCell<Option<Arc<Vec<u8>>>>,
}

impl WatermarkSource {
    /// Reads the settings; nothing is loaded until first needed.
    pub fn new(config: &Config) -> WatermarkSource {
        let s = &config.source;
        let origin = match (&s.watermark_data, &s.watermark_path, &s.watermark_url) {
            (Some(data), _, _) => Some(Origin::Data(Arc::new(data.clone()))),
            (None, Some(path), _) => Some(Origin::Path(path.clone())),
            (None, None, Some(url)) => Some(Origin::Url(url.clone())),
            (None, None, None) => None,
        };
        WatermarkSource { origin, loaded: OnceCell::new() }
    }

    /// `plan` with the watermark bytes attached when it asks for a watermark and one is configured.
    pub async fn attach(&self, plan: &Plan, sources: &Sources) -> Option<Plan> {
        if plan.process.watermark.is_none() || plan.process.watermark_image.is_some() {
            return None;
        }
        let origin = self.origin.as_ref()?;
        let bytes = self.loaded.get_or_init(|| load(origin, sources)).await.clone()?;
        let mut plan = plan.clone();
        plan.process.watermark_image = Some(bytes);
        Some(plan)
    }
}

async fn load(origin: &Origin, sources: &Sources) -> Option<Arc<Vec<u8>>> {
    let loaded = match origin {
        Origin::Data(bytes) => Ok(bytes.clone()),
        Origin::Path(path) => tokio::fs::read(path).await.map(Arc::new).map_err(|e| e.to_string()),
        Origin::Url(url) => match url::Url::parse(url) {
            Ok(url) => sources
                .fetch(&SourceRef::Http(url), 0)
                .await
                .map(|f| Arc::new(f.bytes.to_vec()))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
    };
    match loaded {
        Ok(bytes) => Some(bytes),
        Err(cause) => {
            tracing::error!(%cause, "can't load the watermark image; serving without it");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Watermark, WatermarkPosition};

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn origin_precedence_is_data_then_path_then_url() {
        let rows = [
            ("nothing", vec![], None),
            (
                "url only",
                vec![("IMGPROXY_WATERMARK_URL", "http://x/w.png")],
                Some(Origin::Url("http://x/w.png".into())),
            ),
            (
                "path beats url",
                vec![("IMGPROXY_WATERMARK_URL", "http://x/w.png"), ("IMGPROXY_WATERMARK_PATH", "/w.png")],
                Some(Origin::Path("/w.png".into())),
            ),
            (
                "data beats path",
                vec![("IMGPROXY_WATERMARK_PATH", "/w.png"), ("IMGPROXY_WATERMARK_DATA", "aGk=")],
                Some(Origin::Data(Arc::new(b"hi".to_vec()))),
            ),
        ];
        for (name, vars, want) in rows {
            assert_eq!(WatermarkSource::new(&config(&vars)).origin, want, "{name}");
        }
    }

    #[tokio::test]
    async fn attaches_only_when_asked_and_configured() {
        let cfg = config(&[("IMGPROXY_WATERMARK_DATA", "aGk=")]);
        let sources = Sources::new(&cfg.source).unwrap();
        let wm = WatermarkSource::new(&cfg);
        let mut plan = Plan {
            source: SourceRef::Local("/x".into()),
            process: crate::plan::Processing::default(),
            output: crate::plan::OutputRules::default(),
            limits: crate::plan::Limits::default(),
            response: crate::plan::ResponsePolicy::default(),
        };
        assert!(wm.attach(&plan, &sources).await.is_none(), "not asked");
        plan.process.watermark = Some(Watermark { opacity: 1.0, position: WatermarkPosition::Replicate, scale: 0.0 });
        let attached = wm.attach(&plan, &sources).await.unwrap();
        assert_eq!(attached.process.watermark_image.as_deref().map(Vec::as_slice), Some(b"hi".as_slice()));
        let none = WatermarkSource::new(&config(&[]));
        assert!(none.attach(&plan, &sources).await.is_none(), "asked but not configured");
    }
}
