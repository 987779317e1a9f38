//! An image named by configuration as `*_DATA` (base64), `*_PATH` or `*_URL`, in imgproxy's order of
//! precedence, loaded on first use and kept for the life of the process. The fallback image and the
//! watermark are both such images.
//!
//! Lazily, not at start-up, so a slow or failing URL never delays or breaks start-up (and a Lambda cold
//! start pays nothing until a request needs it); a URL is fetched once through the same guarded source
//! fetchers as any request (allowed sources, SSRF checks, size limit). An image that cannot be loaded is
//! logged once, with what the caller does without it.

use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::plan::SourceRef;
use crate::source::Sources;

/// Where the bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Data(Bytes),
    Path(PathBuf),
    Url(String),
}

/// A configured image, if any, and its bytes once loaded.
pub struct ConfiguredImage {
    origin: Option<Origin>,
    loaded: OnceCell<Option<Bytes>>,
    /// What it is and what happens without it, for the one log line when it cannot be loaded.
    what: &'static str,
    without: &'static str,
}

impl ConfiguredImage {
    /// Picks the origin (data, else path, else URL); nothing is loaded until first needed.
    pub fn new(
        data: Option<&Vec<u8>>,
        path: Option<&PathBuf>,
        url: Option<&String>,
        what: &'static str,
        without: &'static str,
    ) -> ConfiguredImage {
        let origin = match (data, path, url) {
            (Some(data), _, _) => Some(Origin::Data(Bytes::from(data.clone()))),
            (None, Some(path), _) => Some(Origin::Path(path.clone())),
            (None, None, Some(url)) => Some(Origin::Url(url.clone())),
            (None, None, None) => None,
        };
        ConfiguredImage { origin, loaded: OnceCell::new(), what, without }
    }

    /// Whether an image is configured at all.
    pub fn is_configured(&self) -> bool {
        self.origin.is_some()
    }

    /// The origin chosen from the configuration (the callers' tests check their variables map onto it).
    #[cfg(test)]
    pub(crate) fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// The bytes, loaded on first use and kept. `None` when none is configured or it could not be loaded.
    pub async fn bytes(&self, sources: &Sources) -> Option<Bytes> {
        let origin = self.origin.as_ref()?;
        self.loaded.get_or_init(|| self.load(origin, sources)).await.clone()
    }

    async fn load(&self, origin: &Origin, sources: &Sources) -> Option<Bytes> {
        let loaded = match origin {
            Origin::Data(bytes) => Ok(bytes.clone()),
            Origin::Path(path) => tokio::fs::read(path).await.map(Bytes::from).map_err(|e| e.to_string()),
            Origin::Url(url) => match url::Url::parse(url) {
                Ok(url) => sources.fetch(&SourceRef::Http(url), 0).await.map(|f| f.bytes).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        loaded.map_err(|cause| tracing::error!(%cause, "can't load the {}; {}", self.what, self.without)).ok()
    }
}

/// What the callers' tests share: a configuration from variable pairs, and imgproxy's precedence rows for
/// a `{prefix}_DATA` / `_PATH` / `_URL` family, so each caller checks its own variable names map onto it.
#[cfg(test)]
pub(crate) mod test_rows {
    use super::Origin;
    use crate::config::Config;
    use bytes::Bytes;

    /// A configuration from `(name, value)` pairs.
    pub(crate) fn config(vars: &[(String, String)]) -> Config {
        Config::from_vars(vars.iter().cloned()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A row: its name, the variables set, the origin expected.
    pub(crate) type Row = (&'static str, Vec<(String, String)>, Option<Origin>);

    /// Data beats path beats URL.
    pub(crate) fn precedence(prefix: &str) -> Vec<Row> {
        let var = |suffix: &str, value: &str| (format!("{prefix}_{suffix}"), value.to_string());
        vec![
            ("nothing", vec![], None),
            ("url only", vec![var("URL", "http://x/y.png")], Some(Origin::Url("http://x/y.png".into()))),
            (
                "path beats url",
                vec![var("URL", "http://x/y.png"), var("PATH", "/f.png")],
                Some(Origin::Path("/f.png".into())),
            ),
            (
                "data beats path",
                vec![var("PATH", "/f.png"), var("DATA", "aGk=")],
                Some(Origin::Data(Bytes::from_static(b"hi"))),
            ),
        ]
    }
}
