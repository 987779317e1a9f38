//! Admission control: at most `IMGPROXY_WORKERS` image jobs at once, at most
//! `IMGPROXY_REQUESTS_QUEUE_SIZE` waiting (SPEC §6), everything beyond refused at once with 429.
//!
//! A permit covers the download and the processing of one request, as imgproxy's processing semaphore does
//! (`workers/workers.go`): it bounds both CPU and the memory held by source buffers. The CPU part itself
//! runs on tokio's blocking pool, never on the async runtime threads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The queue is full: the request is refused with 429.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("too many requests")]
pub struct QueueFull;

/// A bounded pool of job slots with a bounded waiting line.
#[derive(Debug)]
pub struct Workers {
    slots: Arc<Semaphore>,
    size: usize,
    queue_limit: usize,
    waiting: AtomicUsize,
    busy_micros: Arc<AtomicU64>,
}

/// Held while a request downloads and processes; the slot frees on drop, adding the time it was held to
/// the busy total (so utilisation over any window is exact, not a sample of [`Workers::busy`]).
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    taken: Instant,
    busy_micros: Arc<AtomicU64>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let held = u64::try_from(self.taken.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.busy_micros.fetch_add(held, Ordering::Relaxed);
    }
}

impl Workers {
    /// `size` concurrent jobs; `queue_limit` waiting requests (0 = unlimited, as imgproxy).
    pub fn new(size: usize, queue_limit: usize) -> Workers {
        let size = size.max(1);
        let (slots, waiting, busy_micros) = (Arc::new(Semaphore::new(size)), AtomicUsize::new(0), Arc::default());
        Workers { slots, size, queue_limit, waiting, busy_micros }
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        Slot { _permit: permit, taken: Instant::now(), busy_micros: self.busy_micros.clone() }
    }

    /// Seconds of slot time used by finished jobs (`rate()` of it / [`Workers::size`] = utilisation).
    pub fn busy_seconds(&self) -> f64 {
        self.busy_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Takes a slot, waiting in line if all are busy; refuses at once when the line is full.
    pub async fn acquire(&self) -> Result<Slot, QueueFull> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => return Ok(self.slot(permit)),
            Err(TryAcquireError::Closed) => return Err(QueueFull),
            Err(TryAcquireError::NoPermits) => {}
        }
        let position = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = LeaveQueue(&self.waiting);
        if self.queue_limit > 0 && position >= self.queue_limit {
            return Err(QueueFull);
        }
        let permit = self.slots.clone().acquire_owned().await.map_err(|_| QueueFull)?;
        Ok(self.slot(permit))
    }

    /// Jobs running now.
    pub fn busy(&self) -> usize {
        self.size - self.slots.available_permits()
    }

    /// Requests waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The number of slots.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// Decrements the waiting count however `acquire` ends (success, refusal, or the request being dropped).
struct LeaveQueue<'a>(&'a AtomicUsize);

impl Drop for LeaveQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn refuses_beyond_slots_plus_queue() {
        let workers = Arc::new(Workers::new(1, 1));
        let first = workers.acquire().await.unwrap();
        let w = workers.clone();
        let waiter = tokio::spawn(async move { w.acquire().await.map(|_| ()) });
        while workers.queued() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(workers.acquire().await.unwrap_err(), QueueFull);
        assert_eq!(workers.busy(), 1);
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(workers.queued(), 0);
        assert_eq!(workers.busy(), 0);
    }

    #[tokio::test]
    async fn busy_time_adds_up_when_slots_are_released() {
        let workers = Workers::new(2, 0);
        let (a, b) = (workers.acquire().await.unwrap(), workers.acquire().await.unwrap());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(workers.busy_seconds(), 0.0, "counted on release");
        drop((a, b));
        let busy = workers.busy_seconds();
        assert!((0.06..1.0).contains(&busy), "two slots for 30 ms each: {busy}");
    }

    #[tokio::test]
    async fn unlimited_queue_waits() {
        let workers = Arc::new(Workers::new(1, 0));
        let first = workers.acquire().await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..5 {
            let w = workers.clone();
            waiters.push(tokio::spawn(async move { w.acquire().await.map(|_| ()) }));
        }
        while workers.queued() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(first);
        for w in waiters {
            w.await.unwrap().unwrap();
        }
    }
}
