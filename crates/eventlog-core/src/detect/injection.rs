//! SQL injection and XSS: the libinjection tokenizers (pure-Rust port), which classify a
//! value by the shape of its token stream rather than by keywords, so prose that merely
//! mentions `select` or `<b>` is left alone.
//!
//! Around them, two small refinements measured on the corpus (`tests/corpus/`):
//! - libinjection flags shapes that are only *possibly* SQL (program code with braces,
//!   plain arithmetic, a whole SQL statement quoted in a help-desk ticket); for those a
//!   finding needs a second tell: a tautology (`1=1`, `'a'='a`), a comment that cuts the
//!   query, a stacked statement, `UNION SELECT`, a time-delay or file function.
//! - it misses stacked statements after a broken-out literal (`'; TRUNCATE TABLE x--`)
//!   and a literal closed by a bare comment (`admin' #`); those are added.
//! - its XSS verdict on markup without any active content (`<p style="color:red">`,
//!   `<?xml ...?>`) is dropped unless something in the value can run script.

use std::sync::LazyLock;

use regex::Regex;

/// Statements an attacker stacks after breaking out of a literal.
const STACKED: &[&str] = &[
    "select", "insert", "update", "delete", "drop", "truncate", "alter", "create", "grant",
    "revoke", "exec", "execute", "declare", "shutdown", "waitfor", "merge", "call", "set",
];

/// Functions and objects that only an attack asks a database for.
const DANGEROUS_SQL: &[&str] = &[
    "sleep(",
    "benchmark(",
    "pg_sleep",
    "waitfor delay",
    "xp_cmdshell",
    "information_schema",
    "@@version",
    "load_file",
    "into outfile",
    "into dumpfile",
    "sqlite_master",
    "extractvalue(",
    "updatexml(",
    "utl_http",
    "dbms_pipe",
];

static EVENT_HANDLER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bon[a-z]{3,}\s*=").expect("valid regex"));
static UNION_SELECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bunion(\s+all)?\s+select\b").expect("valid regex"));

/// The libinjection fingerprint (or refinement rule) of `value` if it is SQL injection.
pub(super) fn sql_injection(value: &str) -> Option<String> {
    if !has_sql_syntax(value) {
        return None;
    }
    let result = libinjectionrs::detect_sqli(value.as_bytes());
    if result.is_injection() {
        let ambiguous = !value.bytes().any(|b| b.is_ascii_alphabetic())
            || (value.contains('{') && value.contains('}'))
            || is_statement_text(value);
        if ambiguous && !has_sql_tell(value) {
            return None;
        }
        return Some(
            result
                .fingerprint
                .map(|f| format!("libinjection:{}", f.as_str()))
                .unwrap_or_else(|| "libinjection".to_owned()),
        );
    }
    if stacked_after_breakout(value) {
        return Some("stacked_statement".to_owned());
    }
    if comment_after_quote(value) {
        return Some("quote_then_comment".to_owned());
    }
    None
}

/// Whether `value` could break out of the SQL it is placed in: it has a quote, a
/// comment or a comparison, or it starts the way a number or an expression does (the
/// unquoted, numeric context). Prose, names and user agents have none of these, and
/// skipping the tokenizer for them (10+ µs on a long value) is most of the engine's speed.
fn has_sql_syntax(value: &str) -> bool {
    let starts_like_expression = value
        .trim_start()
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'(' | b'@' | b'.'));
    starts_like_expression
        || value
            .bytes()
            .any(|b| matches!(b, b'\'' | b'"' | b'`' | b'=' | b'#'))
        || value.contains("--")
        || value.contains("/*")
}

/// A value that *is* a SQL statement rather than a fragment breaking out of one.
fn is_statement_text(value: &str) -> bool {
    let first = value
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(
        first.as_str(),
        "select" | "update" | "insert" | "delete" | "create" | "with"
    )
}

/// Evidence that only an injection has: a tautology, a comment cutting the query, a
/// stacked statement, `UNION SELECT`, or a function no form field needs.
fn has_sql_tell(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    lower.contains("--")
        || lower.contains('#')
        || lower.contains("/*")
        || UNION_SELECT.is_match(&lower)
        || DANGEROUS_SQL.iter().any(|f| lower.contains(f))
        || has_tautology(&lower)
        || lower
            .trim_end()
            .trim_end_matches(';')
            .split(';')
            .skip(1)
            .any(starts_with_statement)
}

/// `x=x` with both sides the same literal (`1=1`, `'a'='a'`, `"x"="x"`).
fn has_tautology(lower: &str) -> bool {
    let trim = |s: &str| {
        s.trim()
            .trim_matches(|c: char| c == '\'' || c == '"' || c == '(' || c == ')')
            .to_owned()
    };
    let parts: Vec<&str> = lower.split('=').collect();
    parts.windows(2).any(|w| {
        let left = w[0]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .map(trim)
            .unwrap_or_default();
        let right = w[1]
            .split(|c: char| c.is_whitespace())
            .next()
            .map(trim)
            .unwrap_or_default();
        !left.is_empty() && left == right
    })
}

fn starts_with_statement(s: &str) -> bool {
    let word = s
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    STACKED.contains(&word.as_str())
}

/// `'; TRUNCATE TABLE x--`, `1; SHUTDOWN--`: a literal (or number) ended, then a new
/// statement.
fn stacked_after_breakout(value: &str) -> bool {
    let Some((before, after)) = value.split_once(';') else {
        return false;
    };
    let before = before.trim();
    let broke_out = before.is_empty()
        || before.ends_with(['\'', '"', ')'])
        || before.bytes().all(|b| b.is_ascii_digit());
    broke_out && starts_with_statement(after)
}

/// `admin' #`, `x" -- `: a literal closed and the rest of the query commented away.
fn comment_after_quote(value: &str) -> bool {
    let Some(quote) = value.find(['\'', '"']) else {
        return false;
    };
    let rest = value[quote + 1..].trim_start();
    (rest.starts_with('#') || rest.starts_with("--") || rest.starts_with("/*"))
        && !value[..quote].contains(char::is_whitespace)
}

/// `Some(rule)` if `value` is a script-injection vector in any HTML context.
pub(super) fn cross_site_scripting(value: &str) -> Option<&'static str> {
    // Markup needs `<`; breaking out of an attribute needs a quote and `=`; anything else
    // can only be a script URL.
    let markup = value.contains('<') || (value.contains('=') && value.contains(['"', '\'', '`']));
    if markup
        && libinjectionrs::detect_xss(value.as_bytes()).is_injection()
        && can_run_script(value)
    {
        return Some("libinjection:xss");
    }
    script_url(value)
}

/// Whether anything in `value` can execute: a script element or URL, an event handler,
/// CSS that loads or evaluates, or an element that embeds another document.
fn can_run_script(value: &str) -> bool {
    const ACTIVE: &[&str] = &[
        "script",
        "data:",
        "expression(",
        "url(",
        "@import",
        "<iframe",
        "<frame",
        "<object",
        "<embed",
        "<applet",
        "<meta",
        "<base",
        "<link",
        "<svg",
        "<math",
        "<form",
        "srcdoc",
        "href",
        "formaction",
        "<isindex",
        "<style",
        "background",
    ];
    let lower = value.to_ascii_lowercase();
    ACTIVE.iter().any(|a| lower.contains(a)) || EVENT_HANDLER.is_match(value)
}

/// `javascript:` / `vbscript:` / `data:text/html` URLs, which libinjection only sees
/// inside attributes, when they are the whole value (a link field, a redirect target).
fn script_url(value: &str) -> Option<&'static str> {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take(32)
        .flat_map(char::to_lowercase)
        .collect();
    ["javascript:", "vbscript:", "data:text/html", "livescript:"]
        .iter()
        .any(|scheme| compact.starts_with(scheme))
        .then_some("script_url")
}
