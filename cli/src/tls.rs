//! `woolink dev`'s https listener: WooCommerce sends the consent callback only to an
//! `https://` URL, so the local runner also serves its app over TLS, with a certificate for
//! 127.0.0.1 and localhost that it makes at start (written out, so that a test store or
//! client can be told to trust it).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish its TLS handshake (one that stalls is dropped).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener that hands out TLS streams.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Binds `addr` with a fresh self-signed certificate for 127.0.0.1, ::1 and localhost,
    /// whose PEM is written to `cert_out`.
    pub async fn bind(
        addr: SocketAddr,
        cert_out: &Path,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let names = vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ];
        let made = rcgen::generate_simple_self_signed(names)?;
        if let Some(dir) = cert_out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(cert_out, made.cert.pem())?;
        let key = rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| format!("the generated key is not usable: {e}"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)?;
        Ok(Self {
            tcp: TcpListener::bind(addr).await?,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, peer) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors and the like: let the system breathe.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, peer),
                _ => continue,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The peer of a TLS connection (turned into `ConnectInfo<SocketAddr>`, which the routers'
/// per-source limits read).
#[derive(Clone, Copy, Debug)]
pub struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

async fn peer_as_socket_addr(mut req: Request, next: Next) -> axum::response::Response {
    if let Some(ConnectInfo(Peer(addr))) = req.extensions().get::<ConnectInfo<Peer>>().copied() {
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    next.run(req).await
}

/// Serves `app` on `listener` until the process ends.
pub fn spawn(listener: TlsListener, app: axum::Router) {
    let app = app.layer(axum::middleware::from_fn(peer_as_socket_addr));
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<Peer>();
        if let Err(e) = axum::serve(listener, service).await {
            eprintln!("woolink dev: the https listener stopped: {e}");
        }
    });
}
