//! Request framing: every RPC of the gateway takes exactly one request message.
use crate::error::Error;
use tonic::Status;

/// A request body that may hold at most one gRPC message: every RPC of the gateway takes one request
/// message, and tonic would otherwise read the first and drop the rest unseen. A second message fails
/// the body with INVALID_ARGUMENT (tonic passes a `Status` from the body on as it is).
pub struct OneMessage<B> {
    inner: B,
    header: [u8; 5],
    have: usize,
    remaining: u64,
    messages: u32,
}

impl<B> OneMessage<B> {
    pub fn new(inner: B) -> OneMessage<B> {
        OneMessage {
            inner,
            header: [0; 5],
            have: 0,
            remaining: 0,
            messages: 0,
        }
    }

    /// Follows the length-prefixed framing (1 flag byte, 4 length bytes, the message) across chunks.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = (self.remaining.min(data.len() as u64)) as usize;
                self.remaining -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = (5 - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == 5 {
                self.messages += 1;
                if self.messages > 1 {
                    return Err(Status::from(Error::invalid(
                        "request",
                        "this call takes exactly one request message; the request held more",
                    )));
                }
                self.remaining = u64::from(u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]));
                self.have = 0;
            }
        }
        Ok(())
    }
}

impl<B> http_body::Body for OneMessage<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<tower::BoxError>,
{
    type Data = bytes::Bytes;
    type Error = tower::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let data = data.clone();
                    if let Err(status) = self.scan(&data) {
                        return Poll::Ready(Some(Err(Box::new(status))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, len as usize));
        v
    }

    #[test]
    fn one_message_in_any_chunking_passes_a_second_is_refused() {
        let one = frame(300);
        for cut in [1, 3, 5, 6, 200, 305] {
            let mut m = OneMessage::new(());
            for chunk in one.chunks(cut) {
                m.scan(chunk).unwrap();
            }
        }
        let mut two = frame(10);
        two.extend(frame(0));
        for cut in [1, 4, 15, 16] {
            let mut m = OneMessage::new(());
            let r: Result<Vec<()>, Status> = two.chunks(cut).map(|c| m.scan(c)).collect();
            let e = r.unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains("exactly one request message"), "{}", e.message());
        }
    }
}
