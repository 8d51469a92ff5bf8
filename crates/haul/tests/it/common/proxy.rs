//! A TCP proxy in front of PostgreSQL that can make its connections half-open (bytes vanish,
//! sockets stay open) or refuse everything, to test how workers survive a sick network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Conn {
    blackhole: Arc<AtomicBool>,
    close: CancellationToken,
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    refusing: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<Conn>>>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<port> to PostgreSQL at 127.0.0.1:5432.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy { port, refusing: Arc::default(), conns: Arc::default() };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if p.refusing.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                p.forward(client);
            }
        });
        proxy
    }

    /// A database URL through this proxy, tagged with `app` as application_name.
    pub fn url(&self, app: &str) -> String {
        let upstream = url::Url::parse(&super::database_url()).unwrap();
        format!(
            "postgres://{}@127.0.0.1:{}{}?application_name={app}",
            upstream.username(),
            self.port,
            upstream.path()
        )
    }

    /// Every open connection silently stops carrying bytes (a half-open socket); new ones work.
    pub fn blackhole_existing(&self) {
        self.conns.lock().unwrap().drain(..).for_each(|c| c.blackhole.store(true, Ordering::SeqCst));
    }

    /// Closes every connection and refuses new ones, as if the server were down.
    pub fn go_down(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        self.conns.lock().unwrap().drain(..).for_each(|c| c.close.cancel());
    }

    /// Accepts connections again.
    pub fn come_back(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }

    fn forward(&self, client: TcpStream) {
        let conn = Conn { blackhole: Arc::default(), close: CancellationToken::new() };
        let (blackhole, close) = (conn.blackhole.clone(), conn.close.clone());
        self.conns.lock().unwrap().push(conn);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect("127.0.0.1:5432").await else { return };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::select! {
                () = pump(cr, sw, blackhole.clone()) => {}
                () = pump(sr, cw, blackhole) => {}
                () = close.cancelled() => {}
            }
        });
    }
}

async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    blackhole: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if blackhole.load(Ordering::SeqCst) {
                    // a half-open socket never reports the close either
                    std::future::pending::<()>().await;
                }
                return;
            }
            Ok(n) => n,
        };
        if !blackhole.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
