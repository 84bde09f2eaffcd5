//! `sslmode=verify-ca` through the library alone (no CLI to choose a TLS backend first).
//! It takes rustls's process-wide provider, which the two backends compiled into the
//! workspace (sqlx's aws-lc-rs, reqwest's ring) leave unset: the store sets one, so a
//! certificate it cannot check is an error, never a panic. A test binary of its own, so no
//! other test has set the provider before.

#[tokio::test]
async fn verify_ca_is_refused_not_a_panic() {
    let admin_url = std::env::var("EVENTLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
    if let Err(e) = eventlog_store::PgStore::open(&format!("{admin_url}?sslmode=disable")).await {
        if std::env::var("CI").is_ok() {
            panic!("PostgreSQL is required in CI: {e}");
        }
        eprintln!("\n!!!! SKIPPED: PostgreSQL is not reachable at {admin_url} ({e}). In CI this fails. !!!!\n");
        return;
    }
    // The server's certificate (self-signed, or none at all) is not one the public roots
    // vouch for: the connection is refused with a message.
    let refused = eventlog_store::PgStore::open(&format!("{admin_url}?sslmode=verify-ca")).await;
    let Err(e) = refused else {
        panic!("a certificate no root vouches for was accepted");
    };
    assert!(!e.to_string().is_empty());
}
