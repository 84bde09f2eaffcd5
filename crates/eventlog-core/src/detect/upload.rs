//! Malicious uploads by name and declared type: server-side scripts and executables,
//! double extensions (`photo.jpg.php`), null bytes that cut a name short, server config
//! files, and content types of scripts and executables.

/// Extensions that run on a server or a desktop when opened.
const DANGEROUS_EXTENSIONS: &[&str] = &[
    "php", "php3", "php4", "php5", "php7", "php8", "phtml", "phar", "pht", "phps", "jsp", "jspx",
    "jsw", "asp", "aspx", "ashx", "asmx", "asa", "cer", "cgi", "pl", "sh", "bash", "exe", "dll",
    "bat", "cmd", "com", "scr", "msi", "vbs", "vbe", "ps1", "psm1", "jar", "war", "hta", "wsf",
    "cpl", "lnk", "elf", "so",
];

/// Names that reconfigure a web server when uploaded into its tree.
const SERVER_FILES: &[&str] = &[".htaccess", ".user.ini", "web.config", ".htpasswd"];

/// Content types of scripts and executables.
const DANGEROUS_TYPES: &[&str] = &[
    "application/x-php",
    "application/x-httpd-php",
    "text/x-php",
    "application/x-sh",
    "text/x-shellscript",
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-dosexec",
    "application/x-executable",
    "application/x-elf",
    "application/vnd.microsoft.portable-executable",
    "application/java-archive",
    "application/x-bat",
    "application/hta",
];

/// Whether a field name (normalised: lower-case, no `-` `_`) carries a file name.
pub(super) fn is_file_name_key(key: &str) -> bool {
    let k = normalise(key);
    k.ends_with("filename") || k == "originalname" || k == "file" || k == "upload"
}

/// Whether a field name carries a declared content type of an upload.
pub(super) fn is_file_type_key(key: &str) -> bool {
    let k = normalise(key);
    matches!(
        k.as_str(),
        "contenttype" | "mimetype" | "mime" | "filetype" | "mediatype"
    )
}

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `Some(rule)` if the file name is one a malicious upload uses.
pub(super) fn dangerous_file_name(name: &str) -> Option<&'static str> {
    let name = name.trim().trim_matches(['"', '\'']);
    if name.is_empty() || name.len() > 1024 {
        return None;
    }
    if name.contains('\0') {
        return Some("null_byte_in_name");
    }
    let base = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    if SERVER_FILES.contains(&base.trim_end_matches(['.', ' '])) {
        return Some("server_config_file");
    }
    // Every extension counts, not only the last: Apache runs `shell.php.jpg` as PHP.
    let mut parts = base.split('.');
    parts.next();
    let extensions: Vec<&str> = parts.map(|e| e.trim_end_matches([' ', ';', ':'])).collect();
    if extensions.iter().any(|e| DANGEROUS_EXTENSIONS.contains(e)) {
        return Some(if extensions.len() > 1 {
            "double_extension"
        } else {
            "executable_extension"
        });
    }
    None
}

/// `Some(rule)` if the declared type is a script or an executable.
pub(super) fn dangerous_file_type(content_type: &str) -> Option<&'static str> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    DANGEROUS_TYPES
        .contains(&media.as_str())
        .then_some("executable_content_type")
}

/// The `filename=` of a `Content-Disposition` header value.
pub(super) fn disposition_file_name(value: &str) -> Option<&str> {
    let lower = value.to_ascii_lowercase();
    let start = lower.find("filename")?;
    let rest = &value[start..];
    let eq = rest.find('=')?;
    let name = rest[eq + 1..].trim_start();
    let name = name.strip_prefix("utf-8''").unwrap_or(name);
    Some(
        name.trim_start_matches('"')
            .split(['"', ';'])
            .next()
            .unwrap_or_default(),
    )
}
