//! The download name of a Misskey response, as media-proxy builds it: the upstream
//! `Content-Disposition` file name, else the last URL path segment, else `unnamed`; then the extension
//! of the output type appended unless the name already ends with it (media-proxy `correctFilename`).

/// The name before extension correction.
pub fn download_name(url: &url::Url, upstream_disposition: Option<&str>) -> String {
    if let Some(name) = upstream_disposition.and_then(disposition_filename) {
        return name;
    }
    let last = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned();
    if decoded.is_empty() {
        "unnamed".to_string()
    } else {
        decoded
    }
}

/// Appends `.{ext}` unless the name already ends with it (`.jpeg` counts for `jpg`, `.tiff` for `tif`).
pub fn correct_filename(name: &str, ext: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let ends = |e: &str| lower.ends_with(&format!(".{e}"));
    let same = ends(ext) || (ext == "jpg" && ends("jpeg")) || (ext == "tiff" && ends("tif"));
    if same {
        name.to_string()
    } else {
        format!("{name}.{ext}")
    }
}

/// `filename*=UTF-8''…` (RFC 5987) wins over `filename=`; quotes are removed.
fn disposition_filename(header: &str) -> Option<String> {
    let params: Vec<(String, String)> = header
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let extended = params.iter().find(|(k, _)| k == "filename*").and_then(|(_, v)| {
        let (_charset, rest) = v.split_once('\'')?;
        let (_lang, encoded) = rest.split_once('\'')?;
        Some(percent_encoding::percent_decode_str(encoded).decode_utf8_lossy().into_owned())
    });
    let plain = || params.iter().find(|(k, _)| k == "filename").map(|(_, v)| v.trim_matches('"').replace("\\\"", "\""));
    extended.or_else(plain).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rows() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let rows = [
            ("from the path", url("https://a.example/x/photo%20one.png?q=1"), None, "photo one.png"),
            ("empty path", url("https://a.example/"), None, "unnamed"),
            ("upstream filename", url("https://a.example/x"), Some("attachment; filename=\"cat.gif\""), "cat.gif"),
            (
                "upstream filename* wins",
                url("https://a.example/x"),
                Some("inline; filename=\"a.png\"; filename*=UTF-8''%E7%8C%AB.png"),
                "猫.png",
            ),
            ("header without a name", url("https://a.example/y.jpg"), Some("inline"), "y.jpg"),
        ];
        for (name, u, header, want) in rows {
            assert_eq!(download_name(&u, header), want, "{name}");
        }
    }

    #[test]
    fn extension_rows() {
        let rows = [
            ("appended when converted", "photo.png", "webp", "photo.png.webp"),
            ("kept when right", "photo.webp", "webp", "photo.webp"),
            ("case-insensitive", "PHOTO.PNG", "png", "PHOTO.PNG"),
            ("jpeg counts as jpg", "a.jpeg", "jpg", "a.jpeg"),
            ("no extension", "unnamed", "mp4", "unnamed.mp4"),
        ];
        for (name, input, ext, want) in rows {
            assert_eq!(correct_filename(input, ext), want, "{name}");
        }
    }
}
