//! The blocking writer: one thread owns the store, applies write batches in order and answers
//! lookups after every batch queued before them (batches and lookups share one bounded queue,
//! as `docs/EMBEDDING.md` asks). A full queue makes the driver wait: back-pressure.

use std::thread::JoinHandle;

use snap_core::sync::{BatchId, Lookup, LookupAnswer, LookupId, WriteBatch};
use snap_store::{StoreError, SyncStore};
use tokio::sync::mpsc;

/// Work for the writer, applied in queue order.
#[derive(Debug)]
pub enum WriterJob {
    /// Apply this batch atomically.
    Batch(WriteBatch),
    /// Answer this lookup from what is applied.
    Lookup(LookupId, Lookup),
}

/// What the writer reports back.
#[derive(Debug)]
pub enum WriterDone {
    /// The batch is applied and durable.
    Written {
        /// Its id.
        id: BatchId,
        /// Its estimated size in bytes.
        bytes: usize,
        /// The batch, emptied, for the core to reuse its buffers.
        spare: WriteBatch,
    },
    /// The lookup's answer.
    Looked(LookupId, LookupAnswer),
    /// The store failed; the writer stopped.
    Failed(StoreError),
}

/// The driver's side of the writer thread.
#[derive(Debug)]
pub struct Writer<S> {
    jobs: mpsc::Sender<WriterJob>,
    thread: JoinHandle<S>,
}

impl<S: SyncStore + Send + 'static> Writer<S> {
    /// Starts the thread owning `store`, with room for `queue` jobs; results go to `done`.
    pub fn spawn(store: S, queue: usize, done: mpsc::UnboundedSender<WriterDone>) -> Self {
        let (jobs, mut rx) = mpsc::channel::<WriterJob>(queue.max(1));
        let thread = std::thread::Builder::new()
            .name("snap-writer".into())
            .spawn(move || {
                let mut store = store;
                while let Some(job) = rx.blocking_recv() {
                    let result = match job {
                        WriterJob::Batch(mut batch) => store.apply(&batch).map(|()| {
                            let (id, bytes) = (batch.id, batch.estimated_bytes());
                            // Its data dropped here, its buffers go back to the core.
                            batch.clear();
                            WriterDone::Written { id, bytes, spare: batch }
                        }),
                        WriterJob::Lookup(id, lookup) => {
                            store.answer(&lookup).map(|answer| WriterDone::Looked(id, answer))
                        }
                    };
                    let failed = result.is_err();
                    let _ = done.send(result.unwrap_or_else(WriterDone::Failed));
                    if failed {
                        break;
                    }
                }
                store
            })
            .expect("spawning the writer thread");
        Self { jobs, thread }
    }

    /// Queues a job, waiting while the queue is full. `false` when the writer has stopped.
    pub async fn submit(&self, job: WriterJob) -> bool {
        self.jobs.send(job).await.is_ok()
    }

    /// Lets the writer finish every queued job, then hands the store back.
    pub async fn finish(self) -> Result<S, DriverJoinError> {
        drop(self.jobs);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|_| DriverJoinError)?
            .map_err(|_| DriverJoinError)
    }
}

/// The writer thread panicked.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the writer thread panicked")]
pub struct DriverJoinError;
