use super::*;

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

fn raster(width: u32, height: u32, alpha: bool) -> Raster {
    let n = width as usize * height as usize * if alpha { 4 } else { 3 };
    Raster { width, height, alpha, data: (0..n).map(|i| (i * 7 % 251) as u8).collect() }
}

fn failed() -> PipelineError {
    PipelineError::Corrupt("test work failed on this file".into())
}

/// A file the child reports its pid into (the child closes inherited descriptors, so not a pipe), so
/// the test can check that `run` reaped it.
struct PidPipe(std::path::PathBuf);

impl PidPipe {
    fn new() -> PidPipe {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        PidPipe(std::env::temp_dir().join(format!("lmp-isolated-{}-{n}", std::process::id())))
    }

    /// Called in the child.
    fn send(&self) {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        assert!(std::fs::write(&self.0, pid.to_string()).is_ok());
    }

    /// The child's pid, if one ran and reported it.
    fn sent_pid(self) -> Option<libc::pid_t> {
        let text = std::fs::read_to_string(&self.0).ok();
        let _ = std::fs::remove_file(&self.0);
        text?.parse().ok()
    }

    fn child_pid(self) -> libc::pid_t {
        self.sent_pid().unwrap_or_else(|| panic!("the child reported its pid"))
    }
}

/// Whether `pid` is gone for good: waitpid knows no such child (ECHILD), i.e. it was reaped.
fn reaped(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: waitpid with a valid status pointer; WNOHANG never blocks.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    r == -1 && last_errno() == libc::ECHILD
}

#[test]
fn a_raster_comes_back_byte_for_byte() {
    let rows = [("RGB, odd size", raster(37, 23, false)), ("RGBA", raster(64, 48, true)), ("1×1", raster(1, 1, false))];
    for (name, want) in rows {
        let bound = reply_bound(u64::from(want.width) * u64::from(want.height));
        let copy = want.clone();
        let got = run("test work", bound, soon(10_000), move || Ok(copy));
        assert_eq!(got, Ok(want), "{name}");
    }
}

#[test]
fn a_large_raster_arrives_whole_through_the_pipe() {
    // Far more than a pipe buffer (64 KiB): the parent must keep reading while the child writes.
    let want = raster(1500, 1000, true);
    let copy = want.clone();
    let got = run("test work", reply_bound(1500 * 1000), soon(30_000), move || Ok(copy));
    assert_eq!(got, Ok(want));
}

#[test]
fn the_childs_errors_come_back_as_their_variant() {
    let rows = [
        ("corrupt", PipelineError::Corrupt("AVIF: bad".into()), PipelineError::Corrupt("AVIF: bad".into())),
        ("unsupported", PipelineError::Unsupported("grid".into()), PipelineError::Unsupported("grid".into())),
        ("too big", PipelineError::ResolutionTooBig("x".into()), PipelineError::ResolutionTooBig("x".into())),
        ("empty message", PipelineError::Corrupt(String::new()), PipelineError::Corrupt(String::new())),
        ("other variants as corrupt", PipelineError::Timeout, PipelineError::Corrupt("processing timed out".into())),
        ("long message cut", PipelineError::Corrupt("é".repeat(5000)), PipelineError::Corrupt("é".repeat(2048))),
    ];
    for (name, sent, want) in rows {
        let got = run("test work", reply_bound(16), soon(10_000), move || Err(sent));
        assert_eq!(got, Err(want), "{name}");
    }
}

#[test]
fn a_child_that_dies_is_corrupt_and_reaped() {
    type Work = Box<dyn FnOnce() -> Result<Raster, PipelineError>>;
    let rows: [(&str, Work); 4] = [
        ("panics", Box::new(|| panic!("decoder bug (expected by this test)"))),
        ("aborts (as rav1d's extern \"C\" panic)", Box::new(|| std::process::abort())),
        // SAFETY: ends the child with status 7, the case of a decoder that exits.
        ("exits 7", Box::new(|| unsafe { libc::_exit(7) })),
        (
            "killed by a signal",
            Box::new(|| {
                // SAFETY: the child kills itself; the parent must see the signal.
                unsafe { libc::raise(libc::SIGTERM) };
                Ok(raster(1, 1, false))
            }),
        ),
    ];
    for (name, work) in rows {
        let pids = PidPipe::new();
        let got = run("test work", reply_bound(16), soon(10_000), || {
            pids.send();
            work()
        });
        assert_eq!(got, Err(failed()), "{name}");
        assert!(reaped(pids.child_pid()), "{name}: child reaped");
    }
}

#[test]
fn a_child_past_the_deadline_is_killed_and_reaped() {
    let pids = PidPipe::new();
    let start = Instant::now();
    let got = run("test work", reply_bound(16), soon(200), || {
        pids.send();
        std::thread::sleep(Duration::from_secs(30));
        Ok(raster(1, 1, false))
    });
    assert_eq!(got, Err(PipelineError::Timeout));
    // Not a timing assertion: only that `run` did not wait for the 30 s sleep.
    assert!(start.elapsed() < Duration::from_secs(20), "returned without waiting for the child");
    assert!(reaped(pids.child_pid()), "child killed and reaped");
}

#[test]
fn a_passed_deadline_times_out_without_forking() {
    let pids = PidPipe::new();
    let got = run("test work", reply_bound(16), Instant::now(), || {
        pids.send();
        Ok(raster(1, 1, false))
    });
    assert_eq!(got, Err(PipelineError::Timeout));
    assert_eq!(pids.sent_pid(), None, "no child ran");
}

#[test]
fn a_child_that_sends_more_than_allowed_is_refused() {
    type Row = (&'static str, usize, Raster);
    let rows: [Row; 3] = [
        ("pixels beyond the bound", 1000, raster(100, 100, false)),
        ("one byte over", HEADER + 299, raster(10, 10, false)),
        (
            "lying header: data longer than w×h",
            10_000,
            Raster { width: 2, height: 2, alpha: false, data: vec![9; 100] },
        ),
    ];
    for (name, bound, img) in rows {
        let pids = PidPipe::new();
        let got = run("test work", bound, soon(10_000), || {
            pids.send();
            Ok(img)
        });
        assert_eq!(got, Err(failed()), "{name}");
        assert!(reaped(pids.child_pid()), "{name}: child reaped");
    }
}

#[test]
fn exactly_the_bound_is_accepted() {
    let want = raster(10, 10, false);
    let copy = want.clone();
    assert_eq!(run("test work", HEADER + 300, soon(10_000), move || Ok(copy)), Ok(want));
}

#[test]
fn garbled_replies_are_refused() {
    let ok = |w: u32, h: u32, alpha: u8, len: u64| {
        let mut v = vec![b'R'];
        v.extend(w.to_le_bytes());
        v.extend(h.to_le_bytes());
        v.push(alpha);
        v.extend(len.to_le_bytes());
        v
    };
    let rows: [(&str, Vec<u8>, Vec<u8>); 6] = [
        ("empty", vec![], vec![]),
        ("unknown tag", vec![b'X'; HEADER], vec![]),
        ("short header", ok(1, 1, 0, 3).get(..9).map(<[u8]>::to_vec).unwrap_or_default(), vec![]),
        ("alpha flag not 0/1", ok(1, 1, 2, 3), vec![0; 3]),
        ("pixels short of the header", ok(2, 2, 0, 12), vec![0; 11]),
        ("error message short of its length", vec![b'E', 0, 10, 0, 0, 0, b'a'], vec![]),
    ];
    for (name, head, body) in rows {
        assert_eq!(parse(head, body), None, "{name}");
    }
}

/// A panicking child must not need any lock a parent thread can hold at the fork. Here a parent thread
/// holds std's backtrace lock most of the time (what rav1d's debug checks did, and what any thread
/// panicking under `RUST_BACKTRACE` does) and writes to stderr; every panicking child must still come
/// back as `Corrupt` well before its deadline, not as `Timeout`.
#[test]
fn a_panicking_child_takes_no_lock_a_parent_thread_holds() {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let trace = std::backtrace::Backtrace::force_capture();
                eprint!("{}", trace.to_string().len() % 2);
            }
        })
    };
    let timeouts = (0..40)
        .filter(|_| {
            let got = run("test work", reply_bound(16), soon(5_000), || panic!("decoder bug (expected by this test)"));
            assert!(matches!(got, Err(PipelineError::Corrupt(_)) | Err(PipelineError::Timeout)), "{got:?}");
            got == Err(PipelineError::Timeout)
        })
        .count();
    stop.store(true, Ordering::Relaxed);
    assert!(busy.join().is_ok());
    assert_eq!(timeouts, 0, "children hung on a lock held at the fork");
}
