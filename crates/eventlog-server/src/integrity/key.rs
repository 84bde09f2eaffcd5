//! The checkpoint signing key: 32 random bytes, hex, in a 0600 file created on first start
//! (beside the SQLite database, or `eventlog-data/` for PostgreSQL, or where the config
//! says). Its public half is written next to it as `*.pub` for verifiers elsewhere.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;

use super::IntegrityError;

/// Where the key lives when the config names no file: beside the SQLite database file,
/// else in `eventlog-data/`.
pub fn default_key_path(sqlite_db: Option<&Path>) -> PathBuf {
    let dir = sqlite_db
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("eventlog-data"));
    dir.join("checkpoint-signing.key")
}

fn public_path(key_file: &Path) -> PathBuf {
    key_file.with_extension("pub")
}

fn bad(path: &Path, what: impl std::fmt::Display) -> IntegrityError {
    IntegrityError::Key(format!("{}: {what}", path.display()))
}

/// The key that signs `store`'s checkpoints, from `path`. A store that has none yet gets
/// a new key (created at `path` if absent). A store already signed for is refused a key
/// file that is missing or holds another key: signing with a second key (a command run
/// from another folder, which finds no `eventlog-data/` there) would make every later
/// `eventlog verify` report tampering.
pub async fn signing_key_for(
    store: &dyn eventlog_store::Store,
    path: &Path,
) -> Result<SigningKey, IntegrityError> {
    let signed_by = store.checkpoints().await?.pop().map(|c| c.public_key);
    if let (Some(public), false) = (&signed_by, path.exists()) {
        return Err(bad(
            path,
            format!(
                "no such key file, but this store's checkpoints are signed (last by public key {}): \
                 set [integrity] signing_key_file to the key `eventlog serve` uses, or run from \
                 the folder it runs in",
                hex::encode(public)
            ),
        ));
    }
    let key = load_or_create_signing_key(path)?;
    match signed_by {
        Some(public) if public != key.verifying_key().to_bytes() => Err(bad(
            path,
            format!(
                "holds public key {}, but this store's checkpoints are signed by {}: \
                 set [integrity] signing_key_file to the key `eventlog serve` uses",
                hex::encode(key.verifying_key().to_bytes()),
                hex::encode(public)
            ),
        )),
        _ => Ok(key),
    }
}

/// Reads the signing key at `path`, creating it (mode 0600) and its `.pub` if absent.
pub fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, IntegrityError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad(path, "not a hex-encoded 32-byte Ed25519 secret key"))?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| bad(dir, e))?;
            }
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            let key = SigningKey::from_bytes(&secret);
            write_private(path, &format!("{}\n", hex::encode(secret))).map_err(|e| bad(path, e))?;
            let public = public_path(path);
            std::fs::write(
                &public,
                format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
            )
            .map_err(|e| bad(&public, e))?;
            tracing::info!(key = %path.display(), "created the checkpoint signing key");
            Ok(key)
        }
        Err(e) => Err(bad(path, e)),
    }
}

/// The public key to verify with: from a `.pub` file, a secret key file, or hex text.
pub fn load_verifying_key(source: &str) -> Result<VerifyingKey, IntegrityError> {
    let path = Path::new(source);
    let text = if path.exists() {
        std::fs::read_to_string(path).map_err(|e| bad(path, e))?
    } else {
        source.to_owned()
    };
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            IntegrityError::Key(if path.exists() {
                format!("{source}: not a hex-encoded 32-byte Ed25519 key")
            } else {
                format!("there is no key file {source} (and it is not a hex-encoded key either)")
            })
        })?;
    if path.extension().is_some_and(|e| e == "key") {
        return Ok(SigningKey::from_bytes(&bytes).verifying_key());
    }
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| IntegrityError::Key(format!("`{source}`: not an Ed25519 public key: {e}")))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
