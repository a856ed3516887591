//! Phase timings for speed work: with `BERTH_TIMINGS=1`, `mark("phase")` prints the
//! milliseconds since the process started to stderr. Off, it costs one load.

use std::sync::OnceLock;
use std::time::Instant;

fn start() -> Option<Instant> {
    static ON: OnceLock<Option<Instant>> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("BERTH_TIMINGS")
            .is_some_and(|v| v != "0")
            .then(Instant::now)
    })
}

/// Starts the clock (call first thing in `main`); later marks measure from here.
pub fn begin() {
    let _ = start();
}

pub fn mark(phase: &str) {
    if let Some(t) = start() {
        eprintln!(
            "berth-timing {:>8.3} ms [{}] {phase}",
            t.elapsed().as_secs_f64() * 1000.0,
            std::process::id()
        );
    }
}
