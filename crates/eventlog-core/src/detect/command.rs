//! Command injection: a shell separator (`;`, `|`, `&&`, `||`, `&`, a newline) or a
//! substitution (`` `...` ``, `$(...)`) followed by a command an attacker runs, in the
//! shape the shell would parse it. "Tom & Jerry" or "cats; dogs" are not commands.

/// Commands attackers run for reconnaissance, download or a reverse shell.
const COMMANDS: &[&str] = &[
    "cat",
    "ls",
    "id",
    "whoami",
    "uname",
    "pwd",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "dash",
    "python",
    "python3",
    "perl",
    "ruby",
    "php",
    "ping",
    "nslookup",
    "dig",
    "rm",
    "chmod",
    "chown",
    "echo",
    "sleep",
    "powershell",
    "cmd",
    "cmd.exe",
    "ipconfig",
    "ifconfig",
    "systeminfo",
    "hostname",
    "netstat",
    "ps",
    "kill",
    "telnet",
    "tftp",
    "mkfifo",
    "base64",
    "xterm",
    "busybox",
    "env",
    "printenv",
    "head",
    "tail",
    "passwd",
    "useradd",
    "crontab",
    "nohup",
    "certutil",
    "bitsadmin",
    "tasklist",
    "reg",
    "wmic",
    "timeout",
    "expr",
    "sudo",
    "su",
    "awk",
    "sed",
    "find",
    "touch",
];

/// Commands that are complete without arguments (so `; whoami` at the end is enough).
const BARE_COMMANDS: &[&str] = &[
    "id",
    "whoami",
    "uname",
    "pwd",
    "ls",
    "ipconfig",
    "ifconfig",
    "systeminfo",
    "hostname",
    "netstat",
    "ps",
    "env",
    "printenv",
    "tasklist",
    "bash",
    "sh",
];

/// `Some(rule)` if `value` carries a command after a separator or in a substitution.
pub(super) fn command_injection(value: &str) -> Option<&'static str> {
    let bytes = value.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b';' | b'|' | b'&' | b'`' | b'$' | b'\n'))
    {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, b';' | b'|' | b'&' | b'`' | b'$' | b'\n') {
            continue;
        }
        // An ASCII byte is always a character boundary, so slicing after it is safe.
        let rest = &value[i + 1..];
        match b {
            b'`' => {
                if let Some(close) = rest.find('`') {
                    if starts_with_command(&rest[..close], true) {
                        return Some("substitution");
                    }
                }
            }
            b'$' if rest.starts_with('(') && starts_with_command(&rest[1..], true) => {
                return Some("substitution");
            }
            b'$' if rest.starts_with("{IFS}") => return Some("ifs_evasion"),
            b';' | b'|' | b'&' | b'\n' => {
                let rest = rest.trim_start_matches(['|', '&']);
                // Prose uses `;` and `&` but hardly ever a pipe or a line break before
                // a command name.
                let piped = matches!(b, b'|' | b'\n');
                if starts_with_command(rest, piped) {
                    return Some("separator");
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `text` (after a separator) begins with a command run the way an attack runs
/// it: alone, or with an argument that looks like a flag, path, address, redirect or
/// number. `certain` (a pipe or substitution) needs only the command name.
fn starts_with_command(text: &str, certain: bool) -> bool {
    let text = text.trim_start_matches([' ', '\t', '\'', '"', '(', '{']);
    let word_end = text
        .find(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    ';' | '|' | '&' | '`' | ')' | '<' | '>' | '$' | '\'' | '"'
                )
        })
        .unwrap_or(text.len());
    let word = &text[..word_end];
    let name = word.rsplit(['/', '\\']).next().unwrap_or(word);
    if name.is_empty() || !COMMANDS.contains(&name.to_ascii_lowercase().as_str()) {
        return false;
    }
    let has_path = word.contains('/') || word.contains('\\');
    if certain || has_path {
        return true;
    }
    let after = text[word_end..].trim_start_matches([' ', '\t']);
    if after.is_empty() {
        return BARE_COMMANDS.contains(&name.to_ascii_lowercase().as_str());
    }
    // Judge the arguments up to the end of this command.
    let segment = after
        .split([';', '|', '&', '\n'])
        .next()
        .unwrap_or_default();
    after.starts_with([';', '|', '&', '`', '\n'])
        || segment.split_whitespace().any(looks_like_argument)
}

/// A shell argument that prose does not have: a flag, a path, a variable, a redirect,
/// a number, a URL, a host or file name.
fn looks_like_argument(arg: &str) -> bool {
    let arg = arg.trim_end_matches(['.', ',', '!', '?']);
    let Some(first) = arg.chars().next() else {
        return false;
    };
    matches!(first, '-' | '/' | '~' | '$' | '>' | '<' | '\'' | '"' | '.')
        || first.is_ascii_digit()
        || arg.starts_with("http")
        || arg.contains(['/', '\\', '.', '='])
}
