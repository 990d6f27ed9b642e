//! The languages woolink speaks to people: English, Spanish, Simplified Chinese and Polish.
//!
//! Every string lives in one catalogue per language (`i18n/<tag>.json`, compiled in); a unit
//! test checks that every catalogue has exactly the English keys and the same `{placeholders}`.
//! A request's language is `?lang=` when it names one, else the best of `Accept-Language`,
//! else English. The connect pages use it for every string; the API uses it for error
//! `message`s (the `code`s never change).

use std::collections::HashMap;
use std::sync::LazyLock;

/// A language woolink has a catalogue for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Es,
    ZhHans,
    Pl,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Es, Lang::ZhHans, Lang::Pl];

    /// The BCP 47 tag (`lang` attribute, `?lang=` value, `Content-Language`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::ZhHans => "zh-Hans",
            Lang::Pl => "pl",
        }
    }

    /// The language a tag asks for: its primary subtag decides, except that Chinese is
    /// served only in its simplified script (`zh`, `zh-CN`, `zh-Hans`, `zh-SG`; not
    /// `zh-TW`/`zh-HK`/`zh-Hant`).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let mut parts = tag.split('-');
        match parts.next()? {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            "pl" => Some(Lang::Pl),
            "zh" => {
                let rest: Vec<&str> = parts.collect();
                let traditional = rest
                    .iter()
                    .any(|p| matches!(*p, "hant" | "tw" | "hk" | "mo"));
                (!traditional).then_some(Lang::ZhHans)
            }
            _ => None,
        }
    }

    /// `?lang=` first (when it names a language woolink has), then `Accept-Language` by
    /// its q-values (ties keep the header's order), then English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = query.and_then(Lang::from_tag) {
            return lang;
        }
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let mut best: Option<(u16, Lang)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_q);
            let (Some(q), Some(lang)) = (q, Lang::from_tag(tag)) else {
                continue;
            };
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("i18n/en.json"),
            Lang::Es => include_str!("i18n/es.json"),
            Lang::ZhHans => include_str!("i18n/zh-Hans.json"),
            Lang::Pl => include_str!("i18n/pl.json"),
        }
    }
}

/// A q-value in thousandths (`0.8` → 800); `None` when malformed.
fn parse_q(raw: &str) -> Option<u16> {
    let v: f32 = raw.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&v)
        .then(|| (v * 1000.0).round() as u16)
}

type Catalogue = HashMap<String, String>;

static CATALOGUES: LazyLock<HashMap<Lang, Catalogue>> = LazyLock::new(|| {
    Lang::ALL
        .iter()
        .map(|l| {
            // Compiled-in files, checked by the tests below: a broken one is a build defect.
            let parsed: Catalogue = serde_json::from_str(l.source()).unwrap_or_default();
            (*l, parsed)
        })
        .collect()
});

/// The string `key` in `lang` (English when the catalogue lacks it, the key itself when
/// English does too: visible, never a panic).
pub fn text(lang: Lang, key: &str) -> &'static str {
    let find = |l: Lang| CATALOGUES.get(&l).and_then(|c| c.get(key));
    match find(lang).or_else(|| find(Lang::En)) {
        Some(s) => s.as_str(),
        None => {
            tracing::warn!(key, "a string is missing from the catalogues");
            // Leaks at most once per missing key and process: keys are compile-time strings.
            Box::leak(key.to_owned().into_boxed_str())
        }
    }
}

/// `key` in `lang` with its `{name}` placeholders replaced (values as given: the caller
/// escapes for HTML).
pub fn format(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut out = text(lang, key).to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

tokio::task_local! {
    /// The language of the request being answered (set by the routers' middleware).
    static REQUEST_LANG: Lang;
}

/// Runs `fut` with `lang` as the request's language.
pub async fn scope<F: std::future::Future>(lang: Lang, fut: F) -> F::Output {
    REQUEST_LANG.scope(lang, fut).await
}

/// The language of the request being answered; English outside a request.
pub fn current() -> Lang {
    REQUEST_LANG.try_with(|l| *l).unwrap_or_default()
}

/// An API error's `message` in the request's language: the detailed English message, or
/// the translated one for its code.
pub fn error_message(code: &str, english: &str) -> String {
    match current() {
        Lang::En => english.to_owned(),
        lang => text(lang, &format!("error.{code}")).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn parsed(lang: Lang) -> Catalogue {
        serde_json::from_str(lang.source())
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", lang.tag()))
    }

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = s;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('}') else { break };
            out.insert(after[..end].to_owned());
            rest = &after[end + 1..];
        }
        out
    }

    #[test]
    fn every_catalogue_has_every_key_with_the_same_placeholders() {
        let english = parsed(Lang::En);
        assert!(english.len() > 100, "{}", english.len());
        for lang in Lang::ALL {
            let other = parsed(lang);
            let missing: Vec<_> = english.keys().filter(|k| !other.contains_key(*k)).collect();
            let extra: Vec<_> = other.keys().filter(|k| !english.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
            assert!(extra.is_empty(), "{} has unknown {extra:?}", lang.tag());
            for (key, en) in &english {
                let tr = &other[key];
                assert!(!tr.trim().is_empty(), "{} {key} is empty", lang.tag());
                assert_eq!(
                    placeholders(en),
                    placeholders(tr),
                    "{} {key}: placeholders differ",
                    lang.tag()
                );
            }
        }
    }

    /// Every code `ErrorKind::code` can answer, read from its source (so a new kind without
    /// messages fails here without a second list to keep in step).
    fn error_codes() -> Vec<String> {
        let source = include_str!("error.rs");
        let body = source
            .split("pub fn code(self) -> &'static str {")
            .nth(1)
            .expect("ErrorKind::code");
        let body = &body[..body.find("\n    }\n").expect("end of code()")];
        body.lines()
            .filter_map(|l| l.split("=> \"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_error_code_has_a_message_in_every_language() {
        let codes = error_codes();
        assert!(codes.len() >= 28, "{codes:?}");
        assert!(codes.iter().any(|c| c == "internal_error"));
        for lang in Lang::ALL {
            let c = parsed(lang);
            for code in &codes {
                assert!(
                    c.contains_key(&format!("error.{code}")),
                    "{} lacks error.{code}",
                    lang.tag()
                );
            }
        }
    }

    #[test]
    fn the_query_wins_then_the_best_accept_language() {
        assert_eq!(Lang::negotiate(Some("pl"), Some("es")), Lang::Pl);
        assert_eq!(Lang::negotiate(Some("xx"), Some("es-CL")), Lang::Es);
        assert_eq!(
            Lang::negotiate(None, Some("fr;q=1, zh-CN;q=0.8, es;q=0.5")),
            Lang::ZhHans
        );
        assert_eq!(Lang::negotiate(None, Some("pl;q=0.2, es;q=0.9")), Lang::Es);
        assert_eq!(Lang::negotiate(None, Some("zh-TW, pl;q=0.1")), Lang::Pl);
        assert_eq!(Lang::negotiate(None, Some("es;q=0")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("es;q=banana")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("")), Lang::En);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
        assert_eq!(Lang::negotiate(Some("zh-Hans"), None), Lang::ZhHans);
        assert_eq!(Lang::negotiate(Some("zh_cn"), None), Lang::ZhHans);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(format(Lang::Es, "page.step", &[("n", "2")]), "Paso 2 de 4");
        assert_eq!(text(Lang::Pl, "no.such.key"), "no.such.key");
    }

    #[tokio::test]
    async fn error_messages_follow_the_requests_language() {
        assert_eq!(error_message("not_found", "no such route"), "no such route");
        let es = scope(Lang::Es, async {
            error_message("not_found", "no such route")
        })
        .await;
        assert_eq!(es, "No existe esa ruta.");
    }
}
