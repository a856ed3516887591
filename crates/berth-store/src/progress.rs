//! How long operations report progress. The CLI draws bars on a TTY and plain lines
//! otherwise; library callers can pass [`Quiet`].

pub trait Progress: Sync {
    /// A new phase, with its size in bytes when known.
    fn begin(&self, label: &str, total: Option<u64>);
    /// Bytes done in the current phase.
    fn advance(&self, bytes: u64);
    /// The current phase ended.
    fn end(&self, msg: &str);
    /// A line of output from a tool berth runs (debootstrap).
    fn line(&self, _msg: &str) {}
}

pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self, _: &str) {}
}
