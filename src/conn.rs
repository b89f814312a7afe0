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
use std::task::{ready, Context, Poll};
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

/// Most bytes kept back for one send: past this a write sends at once (and waits for the socket).
const COALESCE_MAX: usize = 64 * 1024;
/// Capacity the gathering buffer keeps between sends.
const KEEP_CAPACITY: usize = 16 * 1024;

/// One accepted connection, counted against the limit until dropped.
///
/// Writes are gathered and sent together. HTTP/2 flushes after every DATA frame it cannot copy into its
/// own buffer (a view's answer is one), so a burst of answers finishing together — an audit batch
/// committing confirms a few hundred calls at once — would cost two `send` calls per answer. Here a
/// flush keeps the bytes, asks the connection's task to run again, and the bytes leave at the start of
/// that next run (HTTP/2 reads the socket first thing every time it runs), together with the frames the
/// other answers queued meanwhile. Latency cost: one turn of the runtime. Past [`COALESCE_MAX`] bytes, or on
/// shutdown, they leave at once.
pub struct Limited {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    idle: Option<Duration>,
    /// Last traffic either way once past the handshake (the timer is moved on lazily, when it fires).
    last_active: tokio::time::Instant,
    greeted: usize,
    /// Bytes written and not yet sent; `out[sent..]` is what remains.
    out: Vec<u8>,
    sent: usize,
    /// A flush was put off to the task's next run.
    deferred: bool,
}

impl Limited {
    fn new(inner: TcpStream, permit: OwnedSemaphorePermit, limits: &ConnLimits) -> Limited {
        let first = limits.handshake_timeout.or(limits.idle_timeout);
        Limited {
            inner,
            _permit: permit,
            timer: first.map(|d| Box::pin(tokio::time::sleep(d))),
            idle: limits.idle_timeout,
            last_active: tokio::time::Instant::now(),
            greeted: 0,
            out: Vec::new(),
            sent: 0,
            deferred: false,
        }
    }

    /// Traffic: the next time-out is the idle one, counted from now.
    fn active(&mut self, read: usize) {
        let before = self.greeted;
        self.greeted = self.greeted.saturating_add(read);
        if self.greeted < PREFACE {
            // Still in the handshake: keep its (shorter) deadline.
            return;
        }
        self.last_active = tokio::time::Instant::now();
        if before < PREFACE {
            // The handshake is over: from now on the idle time-out (moved on when it fires).
            self.timer = self.idle.map(|d| Box::pin(tokio::time::sleep(d)));
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let Some(t) = &mut self.timer else {
                return false;
            };
            if t.as_mut().poll(cx).is_pending() {
                return false;
            }
            if let (true, Some(idle)) = (self.greeted >= PREFACE, self.idle) {
                let due = self.last_active + idle;
                if due > tokio::time::Instant::now() {
                    // There was traffic since the timer was set: wait out the rest.
                    t.as_mut().reset(due);
                    continue;
                }
            }
            return true;
        }
    }

    fn pending(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Sends what is kept back.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
            self.active(0);
        }
        self.out.clear();
        // An idle connection keeps no more than HTTP/2's own write buffer does.
        self.out.shrink_to(KEEP_CAPACITY);
        self.sent = 0;
        self.deferred = false;
        Poll::Ready(Ok(()))
    }

    /// Room for more bytes: sends first when too much is kept back.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending() >= COALESCE_MAX {
            ready!(self.poll_send(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Limited {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.deferred {
            // The task's next run: what earlier flushes kept back leaves now. If the socket is full,
            // its readiness wakes the task and the rest leaves then.
            if let Poll::Ready(Err(e)) = self.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
        }
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
        ready!(self.poll_room(cx))?;
        self.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_room(cx))?;
        let mut n = 0;
        for b in bufs {
            self.out.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_room(cx))?;
        if self.pending() > 0 && !self.deferred {
            // Put off to the task's next run (see the type's doc); waking it makes sure there is one.
            self.deferred = true;
            cx.waker().wake_by_ref();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair: the server's end wrapped as the gRPC server wraps it, and the client's.
    async fn pair() -> (Limited, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let limits = ConnLimits {
            max_connections: 1,
            handshake_timeout: None,
            idle_timeout: None,
        };
        (Limited::new(accepted.unwrap().0, permit, &limits), client.unwrap())
    }

    async fn read_exactly(c: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut got))
            .await
            .expect("the bytes did not arrive")
            .unwrap();
        got
    }

    #[tokio::test]
    async fn flushed_writes_are_kept_for_one_turn_and_leave_together_when_the_connection_reads_again() {
        let (mut server, mut client) = pair().await;
        // What HTTP/2 does: write and flush frame after frame, then wait for the peer.
        let task = tokio::spawn(async move {
            for frame in [&b"headers:"[..], b"data:", b"trailers"] {
                server.write_all(frame).await.unwrap();
                server.flush().await.unwrap();
            }
            assert_eq!(server.pending(), 21, "one turn of the task keeps the bytes back");
            let mut buf = [0u8; 16];
            let n = server.read(&mut buf).await.unwrap();
            (server, buf[..n].to_vec())
        });
        // The client sends nothing: the server reading again is what sends them.
        assert_eq!(read_exactly(&mut client, 21).await, b"headers:data:trailers");
        client.write_all(b"ping").await.unwrap();
        let (server, read) = task.await.unwrap();
        assert_eq!(read, b"ping");
        assert_eq!(server.pending(), 0);
    }

    #[tokio::test]
    async fn shutdown_sends_what_is_kept_back_and_large_writes_go_through() {
        let (mut server, mut client) = pair().await;
        let big: Vec<u8> = (0..3 * COALESCE_MAX + 17).map(|i| (i % 251) as u8).collect();
        let expect = big.clone();
        let task = tokio::spawn(async move {
            // Past the bound the writer waits for the socket: the client reads meanwhile.
            server.write_all(&big).await.unwrap();
            server.write_all(b"end").await.unwrap();
            server.flush().await.unwrap();
            server.shutdown().await.unwrap();
            server
        });
        let got = read_exactly(&mut client, expect.len() + 3).await;
        assert_eq!(&got[..expect.len()], &expect[..]);
        assert_eq!(&got[expect.len()..], b"end");
        let server = task.await.unwrap();
        assert!(server.out.capacity() <= KEEP_CAPACITY, "the buffer shrinks once sent");
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "nothing after the shutdown");
    }
}
