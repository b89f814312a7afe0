//! A TCP proxy in front of a real database, for fault tests: it passes traffic, black-holes it (accepts
//! and holds connections, forwards nothing, answers nothing) or drops it (closes every connection, new
//! ones at once). Switching mode acts on open connections too.
#![allow(dead_code)]
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    BlackHole,
    Drop,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on 127.0.0.1:0 forwarding to `upstream` (host:port).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream: SocketAddr = tokio::net::lookup_host(upstream).await.unwrap().next().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Pass);
        let rx = mode.subscribe();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, upstream, rx.clone()));
            }
        });
        FaultProxy { addr, mode, accept }
    }

    pub fn set(&self, m: Mode) {
        self.mode.send_replace(m);
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.addr.port())).unwrap();
        u.to_string()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Closing the channel ends every connection task.
        self.mode.send_replace(Mode::Drop);
    }
}

/// Waits until the mode is no longer `m` (or the proxy is gone).
async fn leave(rx: &mut watch::Receiver<Mode>, m: Mode) -> Mode {
    loop {
        let now = *rx.borrow_and_update();
        if now != m {
            return now;
        }
        if rx.changed().await.is_err() {
            return Mode::Drop;
        }
    }
}

async fn connection(mut client: TcpStream, upstream: SocketAddr, mut rx: watch::Receiver<Mode>) {
    let now = *rx.borrow_and_update();
    match now {
        Mode::Drop => {
            let _ = client.shutdown().await;
            return;
        }
        Mode::BlackHole => {
            // Hold it, say nothing, until the fault ends; then close it.
            leave(&mut rx, Mode::BlackHole).await;
            return;
        }
        Mode::Pass => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let fault = {
        let copy = async {
            tokio::select! {
                _ = tokio::io::copy(&mut cr, &mut sw) => {}
                _ = tokio::io::copy(&mut sr, &mut cw) => {}
            }
        };
        tokio::select! {
            _ = copy => None,
            m = leave(&mut rx, Mode::Pass) => Some(m),
        }
    };
    if fault == Some(Mode::BlackHole) {
        // Keep both ends open and silent: the client's statement hangs until it gives up.
        leave(&mut rx, Mode::BlackHole).await;
    }
    // Dropping the halves closes both connections.
}
