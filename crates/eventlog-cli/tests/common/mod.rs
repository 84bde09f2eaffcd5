//! What the CLI's integration tests share: the real `eventlog serve` on a fresh store.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_eventlog");

/// `eventlog serve` on a fresh SQLite store in `dir`; its stderr goes to `dir/serve.err`.
pub async fn serve(dir: &Path, extra: &[&str]) -> (Child, String, String) {
    let stderr = std::fs::File::create(dir.join("serve.err")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}/e.db", dir.display()))
        .args(extra)
        .current_dir(dir)
        .env_remove("EVENTLOG_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut key, mut url) = (None, None);
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("elk_") {
                key = Some(line.clone());
            }
            if let Some(u) = line.strip_prefix("listening on ") {
                url = Some(u.to_owned());
                return;
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .expect("serve starts within 60 s");
    (child, url.unwrap(), key.expect("the first admin key"))
}
