//! The dashboard's languages: English and Bahasa Indonesia. Every string a page shows is
//! in `locales/{en,id}.toml` (compiled in); the language comes from the `eventlog_lang`
//! cookie (the switcher), else the browser's `Accept-Language`, else English.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap};

use super::session::cookie;

/// Name of the language cookie.
pub(crate) const LANG_COOKIE: &str = "eventlog_lang";

/// A dashboard language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Bahasa Indonesia.
    Id,
}

impl Lang {
    /// Every language, in the switcher's order.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Id];

    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Id => "id",
        }
    }

    /// Parses a tag such as `id`, `id-ID` or `en-GB`.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "id" | "in" => Some(Lang::Id),
            _ => None,
        }
    }

    /// The language of a request: cookie, else the best `Accept-Language` match, else
    /// English.
    pub fn of_request(headers: &HeaderMap) -> Lang {
        if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
            return lang;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../../locales/en.toml"),
            Lang::Id => include_str!("../../locales/id.toml"),
        }
    }

    /// This language's strings, `section.key` -> text.
    pub fn strings(self) -> &'static HashMap<String, String> {
        static EN: OnceLock<HashMap<String, String>> = OnceLock::new();
        static ID: OnceLock<HashMap<String, String>> = OnceLock::new();
        let cell = match self {
            Lang::En => &EN,
            Lang::Id => &ID,
        };
        cell.get_or_init(|| {
            let table: toml::Table = self.source().parse().expect("locale files are valid TOML");
            let mut out = HashMap::new();
            flatten("", &table, &mut out);
            out
        })
    }

    /// The text for `key`; `??` when missing (a unit test proves no page uses a missing
    /// one).
    pub fn t(self, key: &str) -> &'static str {
        match self.strings().get(key) {
            Some(s) => s.as_str(),
            None => {
                tracing::warn!(key, lang = self.code(), "missing dashboard string");
                "??"
            }
        }
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => panic!("locale value {key} must be a string, not {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_language_follows_the_cookie_then_accept_language() {
        assert_eq!(Lang::of_request(&HeaderMap::new()), Lang::En);
        assert_eq!(
            Lang::of_request(&accept("id-ID,id;q=0.9,en;q=0.8")),
            Lang::Id
        );
        assert_eq!(
            Lang::of_request(&accept("fr-FR, en;q=0.5, id;q=0.7")),
            Lang::Id
        );
        assert_eq!(Lang::of_request(&accept("de")), Lang::En);
        let mut h = accept("id");
        h.insert(header::COOKIE, HeaderValue::from_static("eventlog_lang=en"));
        assert_eq!(Lang::of_request(&h), Lang::En);
    }

    #[test]
    fn both_locales_have_the_same_keys_and_every_key_the_templates_use() {
        let en = Lang::En.strings();
        let id = Lang::Id.strings();
        let mut missing: Vec<String> = en
            .keys()
            .filter(|k| !id.contains_key(*k))
            .map(|k| format!("id lacks {k}"))
            .chain(
                id.keys()
                    .filter(|k| !en.contains_key(*k))
                    .map(|k| format!("en lacks {k}")),
            )
            .collect();
        let sources = super::super::TEMPLATE_SOURCES
            .iter()
            .copied()
            .chain([include_str!("pages.rs"), include_str!("mod.rs")]);
        for text in sources {
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                if !en.contains_key(key) {
                    missing.push(format!("locales lack {key}"));
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
