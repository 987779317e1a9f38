//! The request flow shared by every dialect once it has a [`Plan`]: refuse disallowed sources before any
//! I/O, take a worker slot, fetch, run the pipeline on the blocking pool, all under the request deadline.

use std::time::{Duration, Instant};

use crate::pipeline::{self, Output};
use crate::plan::Plan;
use crate::response::Failure;
use crate::source::Fetched;

use super::AppState;

/// Timings for the access log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Time waiting for a worker slot.
    pub queue: Duration,
    /// Time downloading the source.
    pub download: Duration,
    /// Time in the pipeline.
    pub processing: Duration,
}

/// The outcome of a plan: the image and what the source said, or a failure.
pub struct Executed {
    /// The result.
    pub result: Result<(Output, Fetched), Failure>,
    /// Where the time went.
    pub timings: Timings,
}

/// Runs `plan` within `IMGPROXY_TIMEOUT` (503 when it passes; the pipeline also stops between steps).
pub async fn execute(state: &AppState, plan: Plan, started: Instant) -> Executed {
    let deadline = started + state.config.server.timeout;
    let mut timings = Timings::default();
    let work = run(state, plan, deadline, &mut timings);
    let result = match tokio::time::timeout_at(deadline.into(), work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Timeout),
    };
    Executed { result, timings }
}

async fn run(
    state: &AppState,
    plan: Plan,
    deadline: Instant,
    timings: &mut Timings,
) -> Result<(Output, Fetched), Failure> {
    state.sources.check_allowed(&plan.source)?;
    let queued = Instant::now();
    let _slot = state.workers.acquire().await?;
    timings.queue = queued.elapsed();

    let downloading = Instant::now();
    let fetched = state.sources.fetch(&plan.source, plan.limits.max_src_file_size).await?;
    timings.download = downloading.elapsed();

    let processing = Instant::now();
    let bytes = fetched.bytes.clone();
    let output = tokio::task::spawn_blocking(move || pipeline::run(&plan, &bytes, deadline))
        .await
        .map_err(|e| Failure::Internal(format!("pipeline worker failed: {e}")))??;
    timings.processing = processing.elapsed();
    Ok((output, fetched))
}
