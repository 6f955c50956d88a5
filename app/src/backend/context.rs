//! What the current request is, for logs, errors and audit rows: set once by the server's
//! middleware for the whole request, read anywhere below it without passing it by hand.

use std::net::IpAddr;

use ipnet::IpNet;

tokio::task_local! {
    static CURRENT: RequestContext;
}

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The server's own id for the request (never the client's).
    pub request_id: String,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The `X-Request-Id` the client sent, when it is sane (to follow a request across
    /// services); audit rows keep it in their metadata as `client_request_id`.
    pub client_request_id: Option<String>,
}

impl RequestContext {
    /// Runs `fut` with this context as the current one.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The current request's context: the task's, else the one the page renderer was given
    /// (work it spawns runs in other tasks), else an empty one outside a request (CLI, jobs).
    pub fn current() -> RequestContext {
        CURRENT
            .try_with(Clone::clone)
            .ok()
            .or_else(leptos::prelude::use_context::<RequestContext>)
            .unwrap_or_default()
    }
}

/// The current request id, or `-` outside a request.
pub fn request_id() -> String {
    let id = RequestContext::current().request_id;
    if id.is_empty() {
        "-".into()
    } else {
        id
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted reverse proxy, in which
/// case the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
/// its left were written by the client and prove nothing). A malformed entry stops the walk
/// at the last address known to be real.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&client) {
        return client;
    }
    for entry in forwarded_for.unwrap_or("").rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = Some("6.6.6.6, 203.0.113.7, 10.0.0.2");
        // A direct client cannot claim another address.
        assert_eq!(
            client_ip(ip("198.51.100.1"), xff, &proxies),
            ip("198.51.100.1")
        );
        // Behind the proxies: the rightmost address they did not write; the client's own
        // claim (6.6.6.6) is ignored.
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &proxies), ip("203.0.113.7"));
        // No header, or garbage in it: the last real address.
        assert_eq!(client_ip(ip("10.0.0.1"), None, &proxies), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("x, 10.0.0.3"), &proxies),
            ip("10.0.0.3")
        );
        // Without trusted proxies the header never counts.
        assert_eq!(client_ip(ip("10.0.0.1"), xff, &[]), ip("10.0.0.1"));
    }
}
