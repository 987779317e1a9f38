//! Query parsing for the Misskey dialect: form-style (`+` is a space), presence flags, exactly one `url`.

use super::error::MisskeyError;

/// The flags media-proxy understands; each is a presence flag, its value ignored (SPEC §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `emoji`: height ≤ 128, animation kept.
    pub emoji: bool,
    /// `avatar`: height ≤ 320, animation kept.
    pub avatar: bool,
    /// `static`: first frame only (fit 498×422 on its own).
    pub still: bool,
    /// `preview`: fit 200×200, first frame.
    pub preview: bool,
    /// `badge`: 96×96 PNG alpha mask.
    pub badge: bool,
    /// `fallback`: a placeholder image instead of any error.
    pub fallback: bool,
}

/// The query, parsed: the source URL text (if any) and the flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// The single `url` value, decoded.
    pub url: Option<String>,
    /// Presence flags.
    pub flags: Flags,
}

/// Parses `application/x-www-form-urlencoded` text; unknown keys are ignored as media-proxy does.
pub fn parse_query(query: &str) -> Result<Query, MisskeyError> {
    let mut out = Query::default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let flags = &mut out.flags;
        match key.as_ref() {
            "url" if out.url.is_some() => return Err(MisskeyError::RepeatedUrl),
            "url" => out.url = Some(value.into_owned()),
            "emoji" => flags.emoji = true,
            "avatar" => flags.avatar = true,
            "static" => flags.still = true,
            "preview" => flags.preview = true,
            "badge" => flags.badge = true,
            "fallback" => flags.fallback = true,
            _ => {}
        }
    }
    Ok(out)
}

/// Whether the query names a `url` key at all (the routing rule; the value may still be bad).
pub fn has_url_key(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "url")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rows() {
        let f =
            |emoji, avatar, still, preview, badge, fallback| Flags { emoji, avatar, still, preview, badge, fallback };
        let rows: Vec<(&str, &str, Result<Query, MisskeyError>)> = vec![
            (
                "plain url",
                "url=https%3A%2F%2Fa.example%2Fx.png",
                Ok(Query { url: Some("https://a.example/x.png".into()), flags: Flags::default() }),
            ),
            (
                "plus is a space",
                "url=https://a.example/a+b.png",
                Ok(Query { url: Some("https://a.example/a b.png".into()), flags: Flags::default() }),
            ),
            (
                "flags by presence, value ignored",
                "url=u&emoji=0&static&fallback=1",
                Ok(Query { url: Some("u".into()), flags: f(true, false, true, false, false, true) }),
            ),
            (
                "all flags",
                "avatar&preview&badge&url=u",
                Ok(Query { url: Some("u".into()), flags: f(false, true, false, true, true, false) }),
            ),
            ("unknown keys ignored", "url=u&x=1", Ok(Query { url: Some("u".into()), flags: Flags::default() })),
            ("repeated url refused", "url=a&url=b", Err(MisskeyError::RepeatedUrl)),
            ("no url", "emoji=1", Ok(Query { url: None, flags: f(true, false, false, false, false, false) })),
        ];
        for (name, query, want) in rows {
            assert_eq!(parse_query(query), want, "{name}");
        }
    }

    #[test]
    fn url_key_detection() {
        assert!(has_url_key("a=1&url="));
        assert!(!has_url_key("urls=1&xurl=2"));
    }
}
