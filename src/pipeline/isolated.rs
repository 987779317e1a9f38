//! Process isolation for a decoder that can abort the process: the work runs in a `fork()`ed child,
//! which sends its [`Raster`] (or error) back through a pipe and `_exit`s.
//!
//! Why: rav1d 1.1.0 (our AV1 decoder for AVIF input) panics on some crafted bitstreams inside its
//! `extern "C"` API (`dav1d_send_data`); a panic cannot unwind through `extern "C"`, so Rust aborts the
//! WHOLE process — the server and every request in flight — and `catch_unwind` cannot help because
//! rav1d's Rust entry points are crate-private. In a child, the abort kills only the child: the parent
//! sees SIGABRT and answers 422 (SPEC: a bad source is the client's problem, never an outage).
//!
//! Protocol (child → parent, one pipe): `b'R'`, width u32 LE, height u32 LE, alpha u8, length u64 LE,
//! then the pixels; or `b'E'`, kind u8, length u32 LE, then the message. The parent reads with `poll`
//! until EOF or the request deadline, never more than `max_bytes` (the caller's bound from the probed
//! size: a child that sends more is refused and killed), then reaps the child with `waitpid`. Deadline
//! passed → SIGKILL, reap, [`PipelineError::Timeout`] (503). Killed by a signal, exit status ≠ 0, or a
//! short or garbled reply → `Corrupt("<what> failed on this file")` (422). Pipes are `O_CLOEXEC`,
//! every fd is owned (closed on every path), `EINTR` is retried, and the child is always reaped.
//!
//! The child: only the calling thread survives `fork()`; it runs the closure under `catch_unwind`, writes with
//! raw `libc::write`, and ends with `libc::_exit` — no destructors, atexit handlers, stdout flushing or tracing.
//! A lock another thread held at the fork stays held in the child for ever, so the child must not touch std's
//! process-wide locks: a panic there (rav1d's abort is a panic first) would run the default hook, which locks
//! stderr and, under `RUST_BACKTRACE`, std's backtrace lock. [`install_quiet_child_hook`] wraps the hook once, in
//! the parent, before the first fork: in a child it does nothing and takes no lock. (Debug builds of rav1d also
//! captured a backtrace per buffer borrow, taking that lock in parent threads all the time: `Cargo.toml` turns
//! those checks off, as release builds always had them.) The closure allocates, and the global allocator is
//! mimalloc (`src/lib.rs`), which registers no `pthread_atfork` handlers: its per-thread heaps are lock-free, but
//! if another thread holds one of mimalloc's few global locks (arena reservation, abandoned segments, heap lists)
//! at the instant of the fork, the child's allocation could wait forever. The request deadline's SIGKILL is the
//! backstop for that (a 503 for that one request, never a hang).
//!
//! The deadline is the caller's parameter: `pipeline::run` hands the request's deadline down through
//! `decode::decode` (and the watermark's decode); callers outside a request (the payload-cap refit)
//! pass [`DEFAULT_BUDGET`] from now. Cost: one `fork` (page tables copied, copy-on-write)
//! plus one copy of the pixels through the pipe; measured in `avif_isolation_cost` (README, BENCHMARKS).
//! Knows nothing of image formats: the closure is the decoder.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use super::raster::Raster;
use super::PipelineError;

/// The budget a decode outside any request is given (its caller passes `Instant::now() + DEFAULT_BUDGET`).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

/// Header bytes before the pixels of an `Ok` reply.
pub const HEADER: usize = 1 + 4 + 4 + 1 + 8;

/// Longest error message a child sends (longer ones are cut).
const MAX_MESSAGE: usize = 4096;

/// The reply allowance for a raster of at most `pixels` pixels (RGBA at most), or an error message.
pub fn reply_bound(pixels: u64) -> usize {
    let pixels = usize::try_from(pixels.saturating_mul(4)).unwrap_or(usize::MAX);
    pixels.max(MAX_MESSAGE + 6).saturating_add(HEADER)
}

/// Runs `work` in a forked child and returns its raster, bounded by `deadline` and by `max_bytes` of
/// reply (header included). `what` names the work in the error a crashed child becomes.
pub fn run<F>(what: &str, max_bytes: usize, deadline: Instant, work: F) -> Result<Raster, PipelineError>
where
    F: FnOnce() -> Result<Raster, PipelineError>,
{
    if Instant::now() >= deadline {
        return Err(PipelineError::Timeout); // no fork for a request that is already out of time
    }
    install_quiet_child_hook();
    let (read, write) = pipe()?;
    // SAFETY: fork has no preconditions; the child below only runs `work` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(PipelineError::Corrupt(format!("{what}: cannot fork ({})", std::io::Error::last_os_error())));
    }
    if pid == 0 {
        child(&write, work);
    }
    drop(write); // the parent's write end: EOF arrives when the child's copy closes
    let child = Child { pid, reaped: false };
    let failed = || PipelineError::Corrupt(format!("{what} failed on this file"));
    let reply = read_reply(&read, max_bytes, deadline);
    drop(read);
    child.finish(reply, deadline, failed)
}

/// The child's whole life: run, send, `_exit` (never returns into the caller's stack).
fn child<F>(write: &OwnedFd, work: F) -> !
where
    F: FnOnce() -> Result<Raster, PipelineError>,
{
    IN_CHILD.store(true, Ordering::Relaxed);
    close_other_fds(write.as_raw_fd());
    let status = match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) if send(write.as_raw_fd(), &result) => 0,
        Ok(_) => 2,
        Err(_) => 3,
    };
    // SAFETY: _exit ends the child at once, skipping destructors and atexit handlers (which belong to
    // the parent's state) — the point of the design.
    unsafe { libc::_exit(status) }
}

/// True in a forked child only (set right after `fork`, before any work): the panic hook's switch.
static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Wraps the process' panic hook, once and in the parent: in a forked child a panic prints nothing (no
/// stderr lock, no backtrace); everywhere else the previous hook runs unchanged. Installing it in the
/// child instead would take the hook's own lock.
fn install_quiet_child_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A child's panic is reported by its parent (the exit status becomes a 422 with the decoder
            // named), so the child itself stays silent.
            if !IN_CHILD.load(Ordering::Relaxed) {
                previous(info);
            }
        }));
    });
}

/// Closes every inherited descriptor above stderr except `keep`: the reply pipes of concurrent
/// isolated decodes (and sockets) must not stay open in this child, or their parents would wait for
/// this child's exit to see EOF. `close_range(2)` (Linux 5.9+) is one async-signal-safe syscall.
fn close_other_fds(keep: i32) {
    let keep = u32::try_from(keep).unwrap_or(0);
    // SAFETY: closing descriptors this child never uses; `keep` stays open.
    unsafe {
        if keep > 3 {
            libc::close_range(3, keep - 1, 0);
        }
        libc::close_range(keep + 1, u32::MAX, 0);
    }
}

/// Serialises `result` into `fd`; false when a write failed.
fn send(fd: i32, result: &Result<Raster, PipelineError>) -> bool {
    match result {
        Ok(img) => {
            let mut head = Vec::with_capacity(HEADER);
            head.push(b'R');
            head.extend(img.width.to_le_bytes());
            head.extend(img.height.to_le_bytes());
            head.push(u8::from(img.alpha));
            head.extend((img.data.len() as u64).to_le_bytes());
            write_all(fd, &head) && write_all(fd, &img.data)
        }
        Err(e) => {
            let (kind, msg) = error_parts(e);
            let msg = msg.as_bytes().get(..msg.len().min(MAX_MESSAGE)).unwrap_or_default();
            let mut head = vec![b'E', kind];
            head.extend((msg.len() as u32).to_le_bytes());
            write_all(fd, &head) && write_all(fd, msg)
        }
    }
}

/// The wire kind and message of an error (1 Unsupported, 2 ResolutionTooBig, 0 anything else →
/// Corrupt).
fn error_parts(e: &PipelineError) -> (u8, String) {
    match e {
        PipelineError::Unsupported(m) => (1, m.clone()),
        PipelineError::ResolutionTooBig(m) => (2, m.clone()),
        PipelineError::Corrupt(m) => (0, m.clone()),
        other => (0, other.to_string()),
    }
}

/// `write(2)` until all of `bytes` is out, retrying `EINTR`.
fn write_all(fd: i32, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice of `bytes.len()` readable bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(n) {
            Ok(0) => return false,
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(_) if last_errno() == libc::EINTR => continue,
            Err(_) => return false,
        }
    }
    true
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// An `O_CLOEXEC` pipe as (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd), PipelineError> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(PipelineError::Corrupt(format!("cannot make a pipe ({})", std::io::Error::last_os_error())));
    }
    // A 1 MiB pipe buffer (the default is 64 KiB) means 16× fewer wake-ups for a 36 MB raster; the
    // call may fail (the per-user pipe limit), which only costs speed.
    // SAFETY: fcntl on a descriptor we just opened.
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) };
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How reading the child's reply ended.
#[derive(Debug, PartialEq)]
enum Reply {
    /// EOF after the header (up to [`HEADER`] bytes) and the body (the rest, pixels not copied again).
    Done(Vec<u8>, Vec<u8>),
    /// The deadline passed first.
    TimedOut,
    /// More than `max_bytes`, or a read error.
    Refused,
}

/// Reads until EOF, the deadline, or more than `max_bytes`.
fn read_reply(read: &OwnedFd, max_bytes: usize, deadline: Instant) -> Reply {
    let fd = read.as_raw_fd();
    let (mut head, mut body) = (Vec::with_capacity(HEADER), Vec::new());
    loop {
        match wait_readable(fd, deadline) {
            Ok(true) => {}
            Ok(false) => return Reply::TimedOut,
            Err(()) => return Reply::Refused,
        }
        let total = head.len() + body.len();
        let in_head = head.len() < HEADER;
        // Never room for more than the allowance plus one byte: "more than allowed" is seen, not stored.
        let want = if in_head { HEADER - head.len() } else { 1 << 20 }.min(max_bytes + 1 - total);
        let target = if in_head {
            &mut head
        } else {
            if body.capacity() == 0 {
                // The announced size, bounded by the allowance, plus one byte so EOF (or excess) shows.
                body.reserve_exact(announced(&head).min(max_bytes.saturating_sub(HEADER)) + 1);
            }
            &mut body
        };
        if target.capacity() == target.len() {
            target.reserve(want);
        }
        let spare = target.spare_capacity_mut();
        let want = want.min(spare.len());
        // SAFETY: `spare` has at least `want` writable bytes; read writes at most `want`.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), want) };
        match usize::try_from(n) {
            Ok(0) => return Reply::Done(head, body),
            // SAFETY: read initialised exactly `n` bytes of the spare capacity.
            Ok(n) => unsafe { target.set_len(target.len() + n) },
            Err(_) if last_errno() == libc::EINTR => continue,
            Err(_) => return Reply::Refused,
        }
        if head.len() + body.len() > max_bytes {
            return Reply::Refused;
        }
    }
}

/// The pixel length an `Ok` header announces (0 for any other header), to reserve the pixel buffer
/// once instead of growing it.
fn announced(head: &[u8]) -> usize {
    match (head.first(), head.get(10..HEADER)) {
        (Some(b'R'), Some(len)) => {
            let len = len.try_into().map(u64::from_le_bytes).unwrap_or(0);
            usize::try_from(len).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Polls `fd` for input until `deadline`; Ok(false) when it passed, retrying `EINTR`.
fn wait_readable(fd: i32, deadline: Instant) -> Result<bool, ()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut p, 1, ms) } {
            0 => continue,                 // re-check the clock: poll may wake a little early
            n if n > 0 => return Ok(true), // POLLIN or POLLHUP: read tells which
            _ if last_errno() == libc::EINTR => continue,
            _ => return Err(()),
        }
    }
}

/// The forked child, reaped on every path (on drop at the latest, killing it first).
struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

impl Child {
    /// Turns the reply and the child's end into the result; kills the child unless it ended cleanly.
    fn finish(
        mut self,
        reply: Reply,
        deadline: Instant,
        failed: impl Fn() -> PipelineError,
    ) -> Result<Raster, PipelineError> {
        let (head, body) = match reply {
            Reply::Done(head, body) => (head, body),
            Reply::TimedOut => {
                self.kill();
                return Err(PipelineError::Timeout);
            }
            Reply::Refused => {
                self.kill();
                return Err(failed());
            }
        };
        // EOF: the child has closed its end and is exiting; wait for it, within the deadline.
        let Some(status) = self.wait_until(deadline) else {
            self.kill();
            return Err(PipelineError::Timeout);
        };
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(failed());
        }
        parse(head, body).ok_or_else(failed)?
    }

    /// Polls for the child's exit until `deadline`; its wait status, or None when it is still running.
    fn wait_until(&mut self, deadline: Instant) -> Option<i32> {
        let mut pause = Duration::from_micros(50);
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.reaped = true;
                return Some(status);
            }
            if r < 0 && last_errno() != libc::EINTR {
                self.reaped = true; // ECHILD: nothing left to reap
                return Some(-1);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// SIGKILL and reap (blocking: a killed process ends at once).
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: `pid` is our unreaped child, so the pid cannot have been reused.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        loop {
            let mut status = 0;
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r >= 0 || last_errno() != libc::EINTR {
                break;
            }
        }
        self.reaped = true;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Decodes a complete reply: the raster, or the error the child reported; None when garbled.
fn parse(head: Vec<u8>, body: Vec<u8>) -> Option<Result<Raster, PipelineError>> {
    let u32_at = |at: usize| head.get(at..at + 4)?.try_into().ok().map(u32::from_le_bytes);
    match head.first()? {
        b'R' => {
            let (width, height) = (u32_at(1)?, u32_at(5)?);
            let alpha = match head.get(9)? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let len = u64::from_le_bytes(head.get(10..HEADER)?.try_into().ok()?);
            let expect = u64::from(width) * u64::from(height) * if alpha { 4 } else { 3 };
            (len == expect && body.len() as u64 == len).then_some(Ok(Raster { width, height, alpha, data: body }))
        }
        b'E' => {
            let len = usize::try_from(u32_at(2)?).ok()?;
            let text: Vec<u8> = head.iter().chain(&body).skip(6).copied().collect();
            let msg = String::from_utf8_lossy(text.get(..len)?).into_owned();
            let kind = *head.get(1)?;
            Some(Err(match kind {
                1 => PipelineError::Unsupported(msg),
                2 => PipelineError::ResolutionTooBig(msg),
                _ => PipelineError::Corrupt(msg),
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "isolated_tests.rs"]
mod tests;
