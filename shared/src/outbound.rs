//! Outbound HTTP: which addresses woolink may call (store URLs, tenant endpoints) and the one
//! client that enforces it. Names are resolved by a resolver that drops forbidden addresses,
//! so the connection goes to the vetted address (no DNS-rebinding window between check and use).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::error::{Error, Result};

/// Where outbound requests may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Local runner only: loopback addresses (and plain `http://` to them) are allowed.
    allow_loopback: bool,
}

impl OutboundPolicy {
    /// Production: public addresses over https only.
    pub fn public_only() -> Self {
        Self {
            allow_loopback: false,
        }
    }

    /// The local runner: also loopback, over http or https.
    pub fn local_development() -> Self {
        Self {
            allow_loopback: true,
        }
    }

    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// Whether a resolved address may be contacted.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Forbidden => false,
        }
    }

    /// Checks what can be checked without DNS: scheme, literal addresses, `localhost`.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        let refuse = |why: &str| Err(Error::invalid_store_url(why.to_owned()));
        let loopback_host = match url.host() {
            None => return refuse("the URL has no host"),
            Some(Host::Ipv4(ip)) => {
                if !self.allows_ip(IpAddr::V4(ip)) {
                    return refuse("the URL points at a private or reserved address");
                }
                ip.is_loopback()
            }
            Some(Host::Ipv6(ip)) => {
                if !self.allows_ip(IpAddr::V6(ip)) {
                    return refuse("the URL points at a private or reserved address");
                }
                classify(IpAddr::V6(ip)) == AddressClass::Loopback
            }
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let is_local = name == "localhost" || name.ends_with(".localhost");
                if is_local && !self.allow_loopback {
                    return refuse("the URL points at a loopback address");
                }
                is_local
            }
        };
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_loopback && loopback_host => Ok(()),
            _ => refuse("the URL must use https"),
        }
    }

    /// `check_url` plus DNS: every address the host resolves to must be allowed.
    pub async fn vet(&self, url: &Url) -> Result<()> {
        self.check_url(url)?;
        if let Some(Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<SocketAddr> = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((name, port)),
            )
            .await
            .map_err(|_| Error::invalid_store_url("the URL's host name could not be resolved"))?
            .map_err(|_| Error::invalid_store_url("the URL's host name could not be resolved"))?
            .collect();
            if addrs.is_empty() {
                return Err(Error::invalid_store_url(
                    "the URL's host name could not be resolved",
                ));
            }
            if addrs.iter().any(|a| !self.allows_ip(a.ip())) {
                return Err(Error::invalid_store_url(
                    "the URL's host resolves to a private or reserved address",
                ));
            }
        }
        Ok(())
    }

    /// The HTTP client for stores and tenant endpoints: vetted DNS, no redirects, no proxy,
    /// bounded timeouts. Build once and reuse.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client> {
        self.client_resolving_with(timeout, Arc::new(SystemLookup))
    }

    fn client_resolving_with(
        &self,
        timeout: Duration,
        lookup: Arc<dyn Lookup>,
    ) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(VettedResolver {
                policy: *self,
                lookup,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("woolink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))
    }
}

/// Why an answer's body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// More than the limit: the rest was not read (the connection is dropped).
    TooLarge { limit: usize },
    /// The connection failed or timed out while reading.
    Interrupted,
}

/// Reads an answer's body, streaming, up to `limit` bytes: a peer announcing or sending more is
/// cut off there, so a hostile store or tenant cannot make woolink hold more than `limit`.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| BodyError::Interrupted)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `keep` bytes of an answer's body (or fewer), without reading the rest.
pub async fn read_prefix(mut response: reqwest::Response, keep: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < keep {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = keep - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    body
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressClass {
    Public,
    Loopback,
    Forbidden,
}

fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    const FORBIDDEN: [([u8; 4], u32); 15] = [
        ([0, 0, 0, 0], 8),       // "this network", 0.0.0.0
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // CGNAT (and some clouds' metadata)
        ([169, 254, 0, 0], 16),  // link-local, cloud metadata 169.254.169.254
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, broadcast
        ([255, 255, 255, 255], 32),
    ];
    if FORBIDDEN.iter().any(|(net, p)| in_v4(ip, *net, *p)) {
        AddressClass::Forbidden
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // IPv4-mapped ::ffff:0:0/96 is never a peer's real address: internal, except the local
    // runner's own loopback written that way.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return if v4.is_loopback() {
            AddressClass::Loopback
        } else {
            AddressClass::Forbidden
        };
    }
    let seg = ip.segments();
    if seg[0] == 0x0064 && seg[1] == 0xff9b {
        // NAT64 64:ff9b::/96
        let o = ip.octets();
        return classify_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if seg[0] == 0x2002 {
        // 6to4 2002:V4ADDR::/48
        let o = ip.octets();
        return classify_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    let forbidden = ip.is_unspecified()
        || seg[..6].iter().all(|s| *s == 0) // IPv4-compatible ::a.b.c.d (deprecated)
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (incl. fd00:ec2::254)
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (seg[0] & 0xff00) == 0xff00 // multicast
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] == 0x2001 && seg[1] == 0x0000) // Teredo 2001::/32 (tunnels to anywhere)
        || (seg[0] == 0x0100 && seg[1..4].iter().all(|s| *s == 0)); // discard-only 100::/64
    if forbidden {
        AddressClass::Forbidden
    } else {
        AddressClass::Public
    }
}

/// Name resolution: the system's, or a scripted one in tests (DNS rebinding).
trait Lookup: Send + Sync {
    fn lookup(
        &self,
        host: String,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;
}

struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) })
    }
}

/// Resolves names and keeps only allowed addresses: the connection is made to an address
/// judged at connection time.
struct VettedResolver {
    policy: OutboundPolicy,
    lookup: Arc<dyn Lookup>,
}

impl reqwest::dns::Resolve for VettedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let lower = host.trim_end_matches('.').to_ascii_lowercase();
            if !policy.allow_loopback && (lower == "localhost" || lower.ends_with(".localhost")) {
                return Err("refused: host is loopback".into());
            }
            let addrs: Vec<SocketAddr> = lookup
                .lookup(host)
                .await?
                .into_iter()
                .filter(|a| policy.allows_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("refused: host has no public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: OutboundPolicy, raw: &str) -> bool {
        let url = Url::parse(raw).unwrap();
        policy.check_url(&url).is_err()
    }

    #[test]
    fn production_refuses_every_internal_form() {
        let p = OutboundPolicy::public_only();
        for raw in [
            "https://127.0.0.1/",
            "https://localhost/",
            "https://shop.localhost/",
            "https://0.0.0.0/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://169.254.169.254/",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::]/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
            "http://example.com/",
        ] {
            assert!(refused(p, raw), "{raw} should be refused");
        }
        assert!(!refused(p, "https://example.com/"));
        assert!(!refused(p, "https://93.184.216.34/"));
        assert!(!refused(p, "https://[2606:2800:220:1::]/"));
        assert!(!refused(p, "https://172.32.0.1/"));
    }

    /// IPv4-mapped addresses (::ffff:0:0/96) and Teredo (2001::/32) are never a store's or a
    /// tenant's address: refused whatever they embed (a mapped public address too).
    #[test]
    fn mapped_and_teredo_addresses_are_internal() {
        let p = OutboundPolicy::public_only();
        for raw in [
            "https://[::ffff:8.8.8.8]/",
            "https://[::ffff:5db8:d822]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[2001::1]/",
        ] {
            assert!(refused(p, raw), "{raw} should be refused");
        }
        // 2001:db8::/32 stays documentation (refused), 2001:4860::/32 is public.
        assert!(!refused(p, "https://[2001:4860:4860::8888]/"));
        // The local runner still reaches its own loopback through the mapped form.
        assert!(!refused(
            OutboundPolicy::local_development(),
            "http://[::ffff:127.0.0.1]:9100/"
        ));
    }

    #[test]
    fn local_development_allows_loopback_http_only() {
        let p = OutboundPolicy::local_development();
        assert!(!refused(p, "http://127.0.0.1:9100/inbox"));
        assert!(!refused(p, "http://localhost:9100/"));
        assert!(!refused(p, "http://[::1]:9100/"));
        assert!(refused(p, "http://example.com/"));
        assert!(refused(p, "https://10.0.0.1/"));
        assert!(refused(p, "https://169.254.169.254/"));
    }

    /// A name that resolves to a public address when vetted and to loopback when connected
    /// (DNS rebinding), or to a mix: the connection never reaches the loopback listener.
    #[tokio::test]
    async fn connections_go_only_to_vetted_addresses() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        struct Rebinding(SocketAddr);
        impl Lookup for Rebinding {
            fn lookup(
                &self,
                _: String,
            ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
                let internal = self.0;
                Box::pin(async move { Ok(vec![internal]) })
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let internal = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        let url = format!("http://rebinding.test:{}/", internal.port());
        // Only loopback forms: a test never sends traffic to other addresses, even by mistake.
        for ip in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            let target = SocketAddr::new(ip.parse().unwrap(), internal.port());
            let prod = OutboundPolicy::public_only()
                .client_resolving_with(Duration::from_secs(2), Arc::new(Rebinding(target)))
                .unwrap();
            assert!(prod.get(&url).send().await.is_err(), "{ip} refused");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
        // The same scripted DNS under the local runner's policy does connect: the refusal
        // above is the policy's, not the test's.
        let dev = OutboundPolicy::local_development()
            .client_resolving_with(Duration::from_secs(2), Arc::new(Rebinding(internal)))
            .unwrap();
        let _ = dev.get(&url).send().await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn names_are_resolved_and_judged_by_their_addresses() {
        let p = OutboundPolicy::public_only();
        // `localhost.` with a trailing dot still names loopback.
        let url = Url::parse("https://localhost./").unwrap();
        assert!(p.vet(&url).await.is_err());
        let dev = OutboundPolicy::local_development();
        let url = Url::parse("http://localhost:1/").unwrap();
        assert!(dev.vet(&url).await.is_ok());
    }
}
