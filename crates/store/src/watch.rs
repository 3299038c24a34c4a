//! The stream of events a watch delivers.

use crate::{Result, WatchEvent};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// How many events a watch buffers for a slow consumer before its producer
/// waits (the producer never blocks writers: it catches up from history).
pub(crate) const WATCH_BUFFER: usize = 1024;

/// Events of one watch, in revision order. Dropping it cancels the watch.
///
/// The stream ends (`None`) when the store closes; an `Err` item (e.g.
/// [`crate::Error::Compacted`]) is always the last one.
#[derive(Debug)]
pub struct WatchStream {
    rx: mpsc::Receiver<Result<WatchEvent>>,
}

impl WatchStream {
    /// A stream and the sender its producer task feeds.
    pub(crate) fn channel() -> (mpsc::Sender<Result<WatchEvent>>, Self) {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        (tx, WatchStream { rx })
    }

    /// The next event; `None` once the watch has ended.
    pub async fn recv(&mut self) -> Option<Result<WatchEvent>> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for WatchStream {
    type Item = Result<WatchEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
