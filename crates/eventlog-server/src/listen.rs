//! Accepting connections. hyper serves each one with a header read timeout: a client that
//! opens a connection and does not send a complete request head in time (a slowloris, or
//! an idle keep-alive connection waiting for its next request) is closed. The number of
//! open connections is capped in all and per client address, so one client cannot take
//! every file descriptor and lock everyone else out.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::limits::LimitsConfig;

/// Open connections per client address.
type OpenPerAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection counted against its address; uncounted when dropped.
struct AddressSlot {
    open: OpenPerAddress,
    ip: IpAddr,
}

impl AddressSlot {
    /// A slot for `ip`, or `None` when it already holds `max` connections.
    fn take(open: &OpenPerAddress, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = open.lock().expect("connection table lock");
        let count = map.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Self {
            open: open.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.open.lock().expect("connection table lock");
        if let Some(count) = map.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// What a connection holds while it is open.
struct Admission {
    _total: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections
/// finish their requests (each is told to close after the one in flight) and returns when
/// the last has closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &LimitsConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_secs(limits.header_timeout_secs.max(1));
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address: OpenPerAddress = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(());
    // Each connection holds a receiver: when all are dropped, every connection has closed.
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admission) = admit(&total, &per_address, peer.ip(), limits) else {
            continue; // dropping the stream closes it
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(Body::new)
            });
        let mut stop = stop_rx.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop((admission, closed));
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

/// Whether a connection from `ip` may open now: below the total cap, and below the
/// per-address cap unless `ip` is a trusted proxy (which speaks for many clients).
fn admit(
    total: &Arc<Semaphore>,
    per_address: &OpenPerAddress,
    ip: IpAddr,
    limits: &LimitsConfig,
) -> Option<Admission> {
    let Ok(permit) = total.clone().try_acquire_owned() else {
        tracing::warn!(%ip, max = limits.max_connections, "connection refused: the server holds its most connections");
        return None;
    };
    let address = if limits.trusted_proxies.iter().any(|r| r.contains(ip)) {
        None
    } else {
        match AddressSlot::take(per_address, ip, limits.max_connections_per_ip.max(1)) {
            Some(slot) => Some(slot),
            None => {
                tracing::warn!(%ip, max = limits.max_connections_per_ip, "connection refused: the address holds its most connections");
                return None;
            }
        }
    };
    Some(Admission {
        _total: permit,
        _address: address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_slots_count_and_free_themselves() {
        let open = OpenPerAddress::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = AddressSlot::take(&open, ip, 2).unwrap();
        let b = AddressSlot::take(&open, ip, 2).unwrap();
        assert!(
            AddressSlot::take(&open, ip, 2).is_none(),
            "the third is refused"
        );
        let other = AddressSlot::take(&open, "10.0.0.2".parse().unwrap(), 2);
        assert!(other.is_some(), "another address has its own count");
        drop(a);
        let c = AddressSlot::take(&open, ip, 2);
        assert!(c.is_some(), "a closed connection frees its slot");
        drop((b, c, other));
        assert!(open.lock().unwrap().is_empty(), "nothing is left behind");
    }
}
