//! Path traversal: `../` steps (after decoding, either slash) and well-known system
//! files. A single relative step inside prose or code (`import x from '../lib'`) is
//! normal text, so one step alone is not enough.

/// Files an attacker reaches for, lower-case, with forward slashes.
const TARGETS: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/hosts",
    "/etc/group",
    "/proc/self/",
    "/proc/version",
    "/.ssh/",
    "/.env",
    "/web-inf/web.xml",
    "c:/windows/",
    "/windows/win.ini",
    "/windows/system32",
    "boot.ini",
    "win.ini",
    "/.htaccess",
    "/.git/",
    "file:///",
];

/// `Some(rule)` if `value` walks out of a directory or names a system file.
pub(super) fn path_traversal(value: &str) -> Option<&'static str> {
    if !value.contains("..") && !value.contains('/') && !value.contains('\\') {
        return None;
    }
    let lower = value.to_ascii_lowercase().replace('\\', "/");
    let steps = lower.matches("../").count() + usize::from(lower.ends_with("/.."));
    let target = TARGETS.iter().any(|t| lower.contains(t));
    let spaced = value.contains(char::is_whitespace);
    let null_byte = lower.contains('\0');
    if (steps >= 1 && (target || null_byte)) || steps >= 3 || (steps >= 2 && !spaced) {
        Some("dot_dot_slash")
    } else if target && !spaced {
        Some("system_file")
    } else {
        None
    }
}
