//! The connect pages' HTML: server-rendered, no script, no build step, no request to any
//! other origin. One small inline style sheet, allowed by its hash in the
//! Content-Security-Policy. Every string comes from the language's catalogue
//! (`crate::i18n`); every value is escaped where it is placed.

use std::sync::LazyLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::consent::Problem;
use crate::i18n::{self, Lang};

/// The whole style sheet: readable on a phone, visible focus, contrast above 4.5:1.
const CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:1.0625rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','PingFang SC','Microsoft YaHei',sans-serif;color:#1b1b1b;background:#f4f5f7}\
header,main,footer{max-width:38rem;margin:0 auto;padding:1rem}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;justify-content:space-between}\
.brand{font-weight:700;font-size:1.25rem;color:#1b1b1b}\
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem .75rem}\
main{background:#fff;border:1px solid #d0d4da;border-radius:.5rem}\
h1{font-size:1.5rem;line-height:1.25;margin:.25rem 0 1rem}\
.step{margin:0;color:#4a4f57;font-size:.9375rem}\
a{color:#0a4fb4}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}\
.hint{display:block;font-weight:400;color:#4a4f57;font-size:.9375rem}\
input[type=text],input[type=email],input[type=password],input[type=url]{width:100%;padding:.625rem;font:inherit;border:2px solid #5c626b;border-radius:.375rem;background:#fff;color:#1b1b1b}\
fieldset{border:0;margin:1rem 0 0;padding:0}\
legend{font-weight:600;margin-bottom:.25rem}\
.choice{display:flex;gap:.5rem;align-items:flex-start;margin:.375rem 0}\
.choice input{width:1.25rem;height:1.25rem;margin-top:.2rem}\
.choice label{margin:0;font-weight:400}\
button,.button{display:inline-block;margin-top:1.25rem;padding:.75rem 1.25rem;font:inherit;font-weight:600;color:#fff;background:#0a4fb4;border:2px solid #0a4fb4;border-radius:.375rem;text-decoration:none;cursor:pointer}\
:focus-visible{outline:3px solid #b34700;outline-offset:2px}\
.problem{border-left:.375rem solid #b3261e;background:#fcefee;padding:.75rem 1rem;margin:0 0 1rem}\
.problem h2{font-size:1.0625rem;margin:0 0 .25rem;color:#8c1d18}\
.ok{border-left:.375rem solid #146c2e;background:#edf7ef;padding:.75rem 1rem;margin:0 0 1rem}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}\
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}\
footer{color:#4a4f57;font-size:.875rem}\
.muted{color:#4a4f57}";

static CSS_HASH: LazyLock<String> = LazyLock::new(|| {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()))
});

/// The pages' Content-Security-Policy: nothing but this origin's forms and the one style.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        *CSS_HASH
    )
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `path?lang=xx`: every link and form keeps the page's language.
pub fn href(path: &str, lang: Lang) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}lang={}", lang.tag())
}

/// A catalogue string, escaped, with its `{placeholders}` replaced by escaped values.
fn t(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut out = esc(i18n::text(lang, key));
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &esc(value));
    }
    out
}

/// What every page has around its content.
pub struct Frame<'a> {
    pub lang: Lang,
    /// The GET path this page can be reached at again (for the language links).
    pub here: &'a str,
    /// `Some(n)`: "Step n of 4".
    pub step: Option<u8>,
    pub heading: String,
    pub problem: Option<(Problem, Vec<(&'a str, String)>)>,
    /// Reload the page by itself after this many seconds (the pending result page).
    pub refresh: Option<u32>,
}

/// A problem's box: what went wrong and what to do.
fn problem_box(lang: Lang, problem: Problem, args: &[(&str, String)]) -> String {
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let key = format!("problem.{}", problem.as_str());
    format!(
        "<div class=\"problem\" role=\"alert\" id=\"problem\" data-problem=\"{code}\"><h2>{title}</h2>\
         <p>{what}</p><p><strong>{fix_label}:</strong> {fix}</p></div>",
        code = problem.as_str(),
        title = t(lang, "common.problem", &[]),
        what = t(lang, &key, &args),
        fix_label = t(lang, "common.fix", &[]),
        fix = t(lang, &format!("{key}.fix"), &args),
    )
}

/// The whole document.
pub fn page(frame: Frame<'_>, content: &str) -> String {
    let lang = frame.lang;
    let languages: String = Lang::ALL
        .iter()
        .map(|l| {
            let current = if *l == lang {
                " aria-current=\"true\""
            } else {
                ""
            };
            format!(
                "<li><a href=\"{}\" hreflang=\"{tag}\" lang=\"{tag}\"{current}>{}</a></li>",
                esc(&href(frame.here, *l)),
                esc(i18n::text(*l, "lang.name")),
                tag = l.tag(),
            )
        })
        .collect();
    let step = frame
        .step
        .map(|n| {
            format!(
                "<p class=\"step\">{}</p>",
                t(lang, "page.step", &[("n", &n.to_string())])
            )
        })
        .unwrap_or_default();
    let problem = frame
        .problem
        .map(|(p, args)| problem_box(lang, p, &args))
        .unwrap_or_default();
    let refresh = frame
        .refresh
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"{tag}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\">{refresh}\
         <title>{heading} · woolink</title><style>{CSS}</style></head><body>\
         <header><span class=\"brand\">woolink</span>\
         <nav aria-label=\"{choose}\"><ul>{languages}</ul></nav></header>\
         <main id=\"main\">{step}<h1>{heading}</h1>{problem}{content}</main>\
         <footer><p>{footer}</p></footer></body></html>\n",
        tag = lang.tag(),
        heading = esc(&frame.heading),
        choose = t(lang, "lang.choose", &[]),
        footer = t(lang, "page.footer", &[]),
    )
}

/// Step 1: the tenant code (a GET form: nothing to protect, and bookmarkable).
pub fn tenant_form(lang: Lang, code: &str) -> String {
    format!(
        "<p>{intro}</p><form method=\"get\" action=\"/connect\">\
         <input type=\"hidden\" name=\"lang\" value=\"{tag}\">\
         <label for=\"tenant\">{label}<span class=\"hint\" id=\"tenant-hint\">{hint}</span></label>\
         <input type=\"text\" id=\"tenant\" name=\"tenant\" value=\"{code}\" required maxlength=\"32\" \
         autocomplete=\"organization\" autocapitalize=\"characters\" spellcheck=\"false\" \
         aria-describedby=\"tenant-hint\" autofocus>\
         <button type=\"submit\">{submit}</button></form>",
        intro = t(lang, "tenant.intro", &[]),
        tag = lang.tag(),
        label = t(lang, "tenant.label", &[]),
        hint = t(lang, "tenant.hint", &[]),
        code = esc(code),
        submit = t(lang, "tenant.submit", &[]),
    )
}

/// Step 2: the tenant user's login.
pub fn login_form(
    lang: Lang,
    tenant_code: &str,
    tenant_name: &str,
    csrf: &str,
    email: &str,
) -> String {
    format!(
        "<p>{intro}</p><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"email\">{email_label}</label>\
         <input type=\"email\" id=\"email\" name=\"email\" value=\"{email}\" required maxlength=\"254\" \
         autocomplete=\"username\" spellcheck=\"false\" autofocus>\
         <label for=\"password\">{password_label}</label>\
         <input type=\"password\" id=\"password\" name=\"password\" required maxlength=\"1024\" \
         autocomplete=\"current-password\">\
         <button type=\"submit\">{submit}</button></form>\
         <p><a href=\"{other}\">{other_label}</a></p>",
        intro = t(lang, "login.intro", &[("tenant", tenant_name)]),
        action = esc(&href(&format!("/connect/{tenant_code}/login"), lang)),
        csrf = esc(csrf),
        email_label = t(lang, "login.email", &[]),
        email = esc(email),
        password_label = t(lang, "login.password", &[]),
        submit = t(lang, "login.submit", &[]),
        other = esc(&href("/connect", lang)),
        other_label = t(lang, "login.other_tenant", &[("tenant", tenant_name)]),
    )
}

/// One store in the picker.
pub struct StoreOption {
    pub id: String,
    pub name: String,
    pub connected: bool,
}

/// Step 3: the store and the shop's address.
pub fn store_form(
    lang: Lang,
    tenant_code: &str,
    tenant_name: &str,
    csrf: &str,
    stores: &[StoreOption],
    chosen: Option<&str>,
    url: &str,
) -> String {
    if stores.is_empty() {
        return format!(
            "<p>{}</p>",
            t(lang, "store.none", &[("tenant", tenant_name)])
        );
    }
    let only = stores.len() == 1;
    let options: String = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let checked = if chosen == Some(s.id.as_str()) || only {
                " checked"
            } else {
                ""
            };
            let note = if s.connected {
                format!(
                    " <span class=\"muted\">({})</span>",
                    t(lang, "store.connected", &[])
                )
            } else {
                String::new()
            };
            format!(
                "<div class=\"choice\"><input type=\"radio\" id=\"store-{i}\" name=\"store\" \
                 value=\"{id}\" required{checked}><label for=\"store-{i}\">{name} \
                 <span class=\"muted\">{id}</span>{note}</label></div>",
                id = esc(&s.id),
                name = esc(&s.name),
            )
        })
        .collect();
    format!(
        "<p>{intro}</p><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <fieldset><legend>{legend}</legend>{options}</fieldset>\
         <label for=\"url\">{url_label}<span class=\"hint\" id=\"url-hint\">{url_hint}</span></label>\
         <input type=\"url\" id=\"url\" name=\"url\" value=\"{url}\" required maxlength=\"2048\" \
         inputmode=\"url\" autocomplete=\"url\" spellcheck=\"false\" placeholder=\"https://\" \
         aria-describedby=\"url-hint\">\
         <button type=\"submit\">{submit}</button></form>",
        intro = t(lang, "store.intro", &[("tenant", tenant_name)]),
        action = esc(&href(&format!("/connect/{tenant_code}/authorize"), lang)),
        csrf = esc(csrf),
        legend = t(lang, "store.legend", &[]),
        url_label = t(lang, "store.url_label", &[]),
        url_hint = t(lang, "store.url_hint", &[]),
        url = esc(url),
        submit = t(lang, "store.submit", &[]),
    )
}

/// Step 4: the way to the shop's consent screen (a link: the browser leaves woolink here).
pub fn ready(
    lang: Lang,
    tenant_code: &str,
    tenant_name: &str,
    app: &str,
    site: &str,
    authorize: &str,
) -> String {
    format!(
        "<p>{intro}</p><p>{what}</p>\
         <p><a class=\"button\" id=\"approve\" href=\"{authorize}\">{button}</a></p>\
         <p><a href=\"{back}\">{back_label}</a></p>",
        intro = t(lang, "ready.intro", &[("url", site), ("app", app)]),
        what = t(lang, "ready.what", &[("tenant", tenant_name)]),
        authorize = esc(authorize),
        button = t(lang, "ready.button", &[]),
        back = esc(&href(&format!("/connect/{tenant_code}/store"), lang)),
        back_label = t(lang, "ready.back", &[]),
    )
}

/// What the connected page lists.
pub struct Connected<'a> {
    pub tenant_name: &'a str,
    pub shop: &'a str,
    pub statuses: &'a str,
    pub webhooks: usize,
    pub since: &'a str,
}

pub fn connected(lang: Lang, c: &Connected<'_>) -> String {
    format!(
        "<div class=\"ok\" role=\"status\" id=\"connected\"><p>{body}</p></div>\
         <dl><dt>{shop_label}</dt><dd>{shop}</dd>\
         <dt>{webhooks_label}</dt><dd id=\"webhooks\">{webhooks}</dd>\
         <dt>{since_label}</dt><dd>{since}</dd></dl><p>{close}</p>",
        body = t(
            lang,
            "done.connected.body",
            &[("statuses", c.statuses), ("tenant", c.tenant_name)]
        ),
        shop_label = t(lang, "done.connected.shop", &[]),
        shop = esc(c.shop),
        webhooks_label = t(lang, "done.connected.webhooks", &[]),
        webhooks = c.webhooks,
        since_label = t(lang, "done.connected.since", &[]),
        since = esc(c.since),
        close = t(lang, "done.connected.close", &[]),
    )
}

/// A paragraph and a way back to the start.
pub fn start_again(lang: Lang, tenant_code: Option<&str>, paragraph_key: Option<&str>) -> String {
    let start = match tenant_code {
        Some(code) => format!("/connect/{code}"),
        None => "/connect".to_owned(),
    };
    let paragraph = paragraph_key
        .map(|k| format!("<p>{}</p>", t(lang, k, &[])))
        .unwrap_or_default();
    format!(
        "{paragraph}<p><a class=\"button\" href=\"{}\">{}</a></p>",
        esc(&href(&start, lang)),
        t(lang, "common.start_again", &[])
    )
}

/// The pending page's body.
pub fn pending(lang: Lang, here: &str) -> String {
    format!(
        "<p>{}</p><p><a href=\"{}\">{}</a></p>",
        t(lang, "done.pending.body", &[]),
        esc(here),
        t(lang, "done.reload", &[])
    )
}

/// A heading from the catalogue (plain text: the frame escapes it).
pub fn heading(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    i18n::format(lang, key, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let html = login_form(Lang::En, "ACME", "<script>x</script>", "\"c", "a@b\"><x");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("a@b\"><x"));
    }

    #[test]
    fn the_style_hash_is_the_style_sheets() {
        let csp = content_security_policy();
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        assert!(csp.contains(&format!("'sha256-{expected}'")));
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        let doc = page(
            Frame {
                lang: Lang::Pl,
                here: "/connect",
                step: Some(1),
                heading: "x".into(),
                problem: None,
                refresh: None,
            },
            "",
        );
        assert!(doc.contains(&format!("<style>{CSS}</style>")));
        assert!(doc.contains("<html lang=\"pl\">") && doc.contains("Krok 1 z 4"));
    }

    #[test]
    fn every_problem_has_its_words_in_every_language() {
        for lang in Lang::ALL {
            for p in Problem::ALL {
                let html = problem_box(lang, p, &[("url", "https://x".into())]);
                assert!(!html.contains("problem."), "{}: {html}", lang.tag());
            }
        }
    }

    /// WCAG 2 relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    #[test]
    fn text_colours_meet_wcag_aa_contrast() {
        // (text, background) pairs the style sheet puts together.
        let pairs = [
            ("#1b1b1b", "#fff"),    // body text in the card
            ("#1b1b1b", "#f4f5f7"), // header on the page background
            ("#4a4f57", "#fff"),    // hints, step, muted
            ("#4a4f57", "#f4f5f7"), // footer
            ("#0a4fb4", "#fff"),    // links
            ("#0a4fb4", "#f4f5f7"), // language links
            ("#fff", "#0a4fb4"),    // buttons
            ("#8c1d18", "#fcefee"), // problem heading
            ("#1b1b1b", "#fcefee"), // problem text
            ("#1b1b1b", "#edf7ef"), // connected box
        ];
        let long = |c: &str| {
            if c.len() == 4 {
                c.chars().skip(1).fold("#".to_owned(), |mut s, ch| {
                    s.push(ch);
                    s.push(ch);
                    s
                })
            } else {
                c.to_owned()
            }
        };
        for (fg, bg) in pairs {
            assert!(
                CSS.contains(fg) && CSS.contains(bg),
                "{fg} {bg} not in the sheet"
            );
            let (a, b) = (luminance(&long(fg)), luminance(&long(bg)));
            let ratio = (a.max(b) + 0.05) / (a.min(b) + 0.05);
            assert!(ratio >= 4.5, "{fg} on {bg}: {ratio:.2}");
        }
    }

    #[test]
    fn links_keep_the_language() {
        assert_eq!(href("/connect", Lang::Es), "/connect?lang=es");
        assert_eq!(
            href("/connect/A/done?x=1", Lang::ZhHans),
            "/connect/A/done?x=1&lang=zh-Hans"
        );
    }
}
