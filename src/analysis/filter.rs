//! The one way every view filters by text. A filter value matches
//! case-insensitively: with `*` or `?` (or `[...]`) it is a glob over the
//! whole value (`*.svc.cluster.local`, `outbound|443||*`); without, it
//! matches when the value contains it (`wikipedia` matches
//! `outbound|443||www.wikipedia.org`), as istioctl's `--fqdn` does.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, Clone)]
pub struct TextFilter {
    raw: String,
    glob: Option<GlobMatcher>,
}

impl TextFilter {
    /// A filter from the command line; an invalid glob is an error that
    /// says what is wrong.
    pub fn new(raw: &str) -> Result<Self, String> {
        let glob = if raw.contains(['*', '?', '[']) {
            let g = GlobBuilder::new(raw)
                .case_insensitive(true)
                .literal_separator(false)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("`{raw}` is not a valid glob: {e}"))?;
            Some(g.compile_matcher())
        } else {
            None
        };
        Ok(TextFilter {
            raw: raw.to_ascii_lowercase(),
            glob,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match &self.glob {
            Some(g) => g.is_match(value),
            None => value.to_ascii_lowercase().contains(&self.raw),
        }
    }

    /// Whether any of the values matches.
    pub fn any<'a>(&self, values: impl IntoIterator<Item = &'a String>) -> bool {
        values.into_iter().any(|v| self.matches(v))
    }
}

/// `Option<TextFilter>`: no filter keeps everything.
pub fn keep(f: &Option<TextFilter>, value: &str) -> bool {
    f.as_ref().is_none_or(|f| f.matches(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_or_whole_value_glob() {
        let f = TextFilter::new("Wikipedia").unwrap();
        assert!(f.matches("outbound|443||www.wikipedia.org"));
        let f = TextFilter::new("*.svc.cluster.local").unwrap();
        assert!(f.matches("httpbin.default.svc.cluster.local"));
        assert!(!f.matches("httpbin.default.svc.cluster.local.evil"));
        let f = TextFilter::new("outbound|443||*").unwrap();
        assert!(f.matches("outbound|443||example.org") && !f.matches("outbound|80||example.org"));
        let f = TextFilter::new("0.0.0.0_84?3").unwrap();
        assert!(f.matches("0.0.0.0_8443"));
        assert!(TextFilter::new("[").is_err());
    }
}
