//! Limits on the connections the gRPC server accepts, below HTTP/2: at most `max_connections` open at
//! once (one more is accepted and closed at once, so a flood cannot exhaust file descriptors or memory);
//! a connection that has not sent its first bytes (the HTTP/2 preface, or a TLS ClientHello) within the
//! handshake time-out is closed; so is one with no traffic either way for the idle time-out. HTTP/2's
//! own limits (streams per connection, keep-alive pings) and the TLS handshake time-out are set on the
//! server in `server.rs`.
use futures::Stream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes of the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`): once read, the handshake
/// time-out gives way to the idle time-out.
const PREFACE: usize = 24;

/// The connection limits in force.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max_connections: usize,
    /// `None`: no limit.
    pub handshake_timeout: Option<Duration>,
    /// `None`: no limit.
    pub idle_timeout: Option<Duration>,
}

/// One accepted connection, counted against the limit until dropped.
pub struct Limited {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    idle: Option<Duration>,
    greeted: usize,
}

impl Limited {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit, limits: &ConnLimits) -> Limited {
        let first = limits.handshake_timeout.or(limits.idle_timeout);
        Limited {
            inner,
            _permit: permit,
            timer: first.map(|d| Box::pin(tokio::time::sleep(d))),
            idle: limits.idle_timeout,
            greeted: 0,
        }
    }

    /// Traffic: the next time-out is the idle one, counted from now.
    fn active(&mut self, read: usize) {
        self.greeted = self.greeted.saturating_add(read);
        let wait = if self.greeted < PREFACE && read > 0 {
            // Still in the handshake: keep its (shorter) deadline.
            return;
        } else {
            self.idle
        };
        match (wait, &mut self.timer) {
            (Some(d), Some(t)) => t.as_mut().reset(tokio::time::Instant::now() + d),
            (Some(d), None) => self.timer = Some(Box::pin(tokio::time::sleep(d))),
            (None, _) => self.timer = None,
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.timer {
            Some(t) => t.as_mut().poll(cx).is_ready(),
            None => false,
        }
    }
}

impl AsyncRead for Limited {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    self.active(n);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.expired(cx) {
                    let why = if self.greeted < PREFACE {
                        "handshake time-out"
                    } else {
                        "idle time-out"
                    };
                    metrics::counter!("cgw_connections_closed_total", "reason" => why).increment(1);
                    let peer = self.inner.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    crate::logsum::CONNECTIONS.note(why, || format!("connection from {peer} closed: {why}"));
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 && self.greeted >= PREFACE {
                self.active(0);
            }
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

/// The connections accepted on `listener` within `limits` (TCP_NODELAY set: without it small answers
/// wait ~40 ms for delayed ACKs).
pub fn incoming(listener: TcpListener, limits: ConnLimits) -> impl Stream<Item = io::Result<Limited>> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    futures::stream::unfold((listener, permits, limits), |(listener, permits, limits)| async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors and the like: pause rather than spin.
                    crate::logsum::CONNECTIONS.note("accept failed", || format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                metrics::counter!("cgw_connections_refused_total").increment(1);
                crate::logsum::CONNECTIONS.note("over max_connections", || {
                    format!(
                        "connection from {peer} refused: {} connections already open (server.max_connections)",
                        limits.max_connections
                    )
                });
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = Limited::new(stream, permit, &limits);
            return Some((Ok(conn), (listener, permits, limits)));
        }
    })
}
