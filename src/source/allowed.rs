//! `IMGPROXY_ALLOWED_SOURCES`: which source URLs may be fetched at all, checked before any I/O
//! (SPEC §4).
//!
//! As imgproxy, each entry is a URL prefix in which `*` matches any run of characters except `/`;
//! an empty list allows everything. Pure string matching on the source URL: no I/O, no addresses.

/// The allowed-sources list, compiled once.
#[derive(Clone, Debug, Default)]
pub struct AllowedSources {
    patterns: Vec<String>,
}

impl AllowedSources {
    /// Keeps the configured patterns (empty entries are dropped; the config already trims them).
    pub fn new(patterns: &[String]) -> AllowedSources {
        AllowedSources { patterns: patterns.iter().filter(|p| !p.is_empty()).cloned().collect() }
    }

    /// Whether `url` starts with one of the patterns; always true for an empty list.
    pub fn allows(&self, url: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| prefix_matches(p.as_bytes(), url.as_bytes()))
    }
}

/// Whether some prefix of `text` matches `pattern`, where `*` matches zero or more bytes other
/// than `/`. Tracks the set of reachable text positions pattern byte by pattern byte, so the cost is
/// `pattern × text` whatever the input: a hostile URL cannot make matching explode.
fn prefix_matches(pattern: &[u8], text: &[u8]) -> bool {
    let mut reach = vec![false; text.len() + 1];
    if let Some(start) = reach.first_mut() {
        *start = true;
    }
    for &p in pattern {
        reach = if p == b'*' { star_step(&reach, text) } else { literal_step(&reach, text, p) };
        if !reach.contains(&true) {
            return false;
        }
    }
    true
}

/// Positions reachable after matching the literal byte `p`.
fn literal_step(reach: &[bool], text: &[u8], p: u8) -> Vec<bool> {
    let mut next = vec![false; reach.len()];
    for (pos, &byte) in text.iter().enumerate() {
        if reach.get(pos) == Some(&true) && byte == p {
            if let Some(slot) = next.get_mut(pos + 1) {
                *slot = true;
            }
        }
    }
    next
}

/// Positions reachable after a `*`: every reachable position, extended over bytes other than `/`.
fn star_step(reach: &[bool], text: &[u8]) -> Vec<bool> {
    let mut next = reach.to_vec();
    for (pos, &byte) in text.iter().enumerate() {
        let here = next.get(pos) == Some(&true);
        if here && byte != b'/' {
            if let Some(slot) = next.get_mut(pos + 1) {
                *slot = true;
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_sources_table() {
        let rows: &[(&str, &[&str], &str, bool)] = &[
            ("empty list allows all", &[], "http://anything/x.jpg", true),
            ("exact prefix", &["https://img.example.com/"], "https://img.example.com/a/b.png", true),
            ("prefix mismatch", &["https://img.example.com/"], "https://evil.com/img.example.com/", false),
            ("prefix must be at the start", &["example.com/"], "https://example.com/a.png", false),
            ("host prefix trick refused", &["https://img.example.com/"], "https://img.example.com.evil/a", false),
            ("second pattern matches", &["s3://b/", "local:///imgs/"], "local:///imgs/a.png", true),
            ("star matches a subdomain", &["https://*.example.com/"], "https://cdn.example.com/a.png", true),
            ("star matches nothing", &["https://x*.example.com/"], "https://x.example.com/a", true),
            ("star does not cross a slash", &["https://*.example.com/"], "https://evil.com/.example.com/", false),
            ("star in the path", &["https://h/*/img/"], "https://h/u1/img/a.png", true),
            ("star in the path stays in one segment", &["https://h/*/img/"], "https://h/u1/u2/img/a.png", false),
            ("trailing star", &["https://h/img*"], "https://h/imgs/a", true),
            ("two stars", &["https://*.*.example.com/"], "https://a.b.example.com/x", true),
            ("regex metacharacters are literal", &["https://h/a.b"], "https://h/aXb", false),
            ("pattern longer than url", &["https://h/abc"], "https://h/ab", false),
        ];
        for (name, patterns, url, want) in rows {
            let list: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            assert_eq!(AllowedSources::new(&list).allows(url), *want, "{name}: {patterns:?} vs {url}");
        }
    }

    #[test]
    fn many_stars_on_a_long_url_stay_fast() {
        let pattern = format!("http://{}/", "*a".repeat(50));
        let url = format!("http://{}", "a".repeat(20_000));
        let started = std::time::Instant::now();
        assert!(!AllowedSources::new(&[pattern]).allows(&url));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
