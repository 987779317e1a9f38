//! The configured watermark image (`IMGPROXY_WATERMARK_DATA` base64, `_PATH`, `_URL`, in imgproxy's
//! order of precedence), loaded lazily on first use and kept for the life of the process.
//!
//! Loading is `configured_image.rs` (shared with the fallback image); a Lambda cold start pays nothing until
//! a request asks for `wm`. A watermark that cannot be loaded is logged and requests are served without it,
//! as imgproxy does with no watermark configured. The pipeline sees only the bytes, attached to the plan by the request flow.

use crate::config::Config;
use crate::configured_image::ConfiguredImage;
use crate::plan::Plan;
use crate::source::Sources;

/// The configured watermark, if any.
pub struct WatermarkSource {
    image: ConfiguredImage,
}

impl WatermarkSource {
    /// Reads the settings; nothing is loaded until first needed.
    pub fn new(config: &Config) -> WatermarkSource {
        let s = &config.source;
        let (data, path, url) = (&s.watermark_data, &s.watermark_path, &s.watermark_url);
        let image =
            ConfiguredImage::new(data.as_ref(), path.as_ref(), url.as_ref(), "watermark image", "serving without it");
        WatermarkSource { image }
    }

    /// `plan` with the watermark bytes attached when it asks for a watermark and one is configured.
    pub async fn attach(&self, plan: &Plan, sources: &Sources) -> Option<Plan> {
        if plan.process.watermark.is_none() || plan.process.watermark_image.is_some() {
            return None;
        }
        let bytes = self.image.bytes(sources).await?;
        let mut plan = plan.clone();
        plan.process.watermark_image = Some(bytes);
        Some(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configured_image::test_rows;
    use crate::plan::{SourceRef, Watermark, WatermarkPosition};

    fn config(vars: &[(&str, &str)]) -> Config {
        test_rows::config(&vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn origin_precedence_is_data_then_path_then_url() {
        for (name, vars, want) in test_rows::precedence("IMGPROXY_WATERMARK") {
            assert_eq!(WatermarkSource::new(&test_rows::config(&vars)).image.origin(), want.as_ref(), "{name}");
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
        assert_eq!(attached.process.watermark_image.as_deref(), Some(b"hi".as_slice()));
        let none = WatermarkSource::new(&config(&[]));
        assert!(none.attach(&plan, &sources).await.is_none(), "asked but not configured");
    }
}
