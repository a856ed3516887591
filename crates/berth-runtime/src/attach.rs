//! `berth attach` to a detached container started with `-i`: the monitor keeps the
//! container's stdin open and listens on `attach.sock` in the container's directory.
//! Whatever a client sends goes to the container's stdin; the container's output goes
//! to every client (and to the log, as always). A client that leaves does not close the
//! container's stdin, as with Docker; Ctrl-P Ctrl-Q leaves without stopping anything.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const SOCKET: &str = "attach.sock";

/// A path for `bind`/`connect` to `dir/name` that fits in a socket address (108 bytes)
/// however long `dir` is: through the descriptor of the open directory.
fn short_path(dir: &File, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// The clients' ends, written to by the output pumps.
#[derive(Clone, Default)]
pub struct Clients(Arc<Mutex<Vec<UnixStream>>>);

impl Write for Clients {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.retain_mut(|c| c.write_all(buf).is_ok());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The monitor's side: owns the write end of the container's stdin and the listener.
pub struct Hub {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    pub clients: Clients,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hub {
    /// Listens in `dir`; input from clients goes to `stdin`.
    pub fn start(dir: &Path, stdin: File) -> io::Result<Hub> {
        let d = File::open(dir)?;
        let _ = std::fs::remove_file(dir.join(SOCKET));
        let listener = UnixListener::bind(short_path(&d, SOCKET))?;
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Clients::default();
        let (flag, list) = (stop.clone(), clients.clone());
        let stdin = Arc::new(Mutex::new(stdin));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let Ok(out) = conn.try_clone() else { continue };
                list.0.lock().unwrap_or_else(|e| e.into_inner()).push(out);
                let stdin = stdin.clone();
                // Ends when the client leaves or the hub shuts the connection down.
                std::thread::spawn(move || {
                    let mut conn = conn;
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let mut w = stdin.lock().unwrap_or_else(|e| e.into_inner());
                        if w.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(Hub {
            dir: dir.to_path_buf(),
            stop,
            clients,
            thread: Some(thread),
        })
    }

    /// After the container ended: no more clients; the connected ones see the end.
    pub fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(d) = File::open(&self.dir) {
            let _ = UnixStream::connect(short_path(&d, SOCKET)); // wakes `accept`
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(self.dir.join(SOCKET));
        for c in self
            .clients
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// How a client session ended.
pub enum Ended {
    /// The container's output ended (it exited).
    Output,
    /// The user typed the detach keys.
    Detached,
}

/// The client's side: `None` when the container has no attach socket (not started with
/// `-i`, or its monitor predates it).
pub fn connect(dir: &Path) -> Option<UnixStream> {
    let d = File::open(dir).ok()?;
    UnixStream::connect(short_path(&d, SOCKET)).ok()
}

/// Copies our stdin to the container and its output to our stdout until the output
/// ends or the detach keys (Ctrl-P Ctrl-Q) come; `raw`: our terminal in raw mode meanwhile
/// (the container has a tty that does the line editing).
pub fn session(conn: UnixStream, raw: bool) -> io::Result<Ended> {
    use nix::sys::termios;
    let saved = if raw {
        termios::tcgetattr(io::stdin()).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut r = t.clone();
        termios::cfmakeraw(&mut r);
        let _ = termios::tcsetattr(io::stdin(), termios::SetArg::TCSANOW, &r);
    }
    let ended = copy_both(conn);
    if let Some(t) = saved {
        let _ = termios::tcsetattr(io::stdin(), termios::SetArg::TCSANOW, &t);
    }
    ended
}

fn copy_both(conn: UnixStream) -> io::Result<Ended> {
    let detached = Arc::new(AtomicBool::new(false));
    let mut to_ctr = conn.try_clone()?;
    let flag = detached.clone();
    let closer = conn.try_clone()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut last = 0u8;
        let mut stdin = io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut send = &buf[..n];
            if let Some(i) = detach_keys(&mut last, send) {
                send = &send[..i];
                let _ = to_ctr.write_all(send);
                flag.store(true, Ordering::SeqCst);
                let _ = closer.shutdown(std::net::Shutdown::Both);
                return;
            }
            if to_ctr.write_all(send).is_err() {
                break;
            }
        }
    });
    let mut from_ctr = conn;
    let mut out = io::stdout();
    let mut buf = [0u8; 8192];
    loop {
        match from_ctr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.write_all(&buf[..n])?;
                out.flush()?;
            }
        }
    }
    Ok(if detached.load(Ordering::SeqCst) {
        Ended::Detached
    } else {
        Ended::Output
    })
}

/// Where Ctrl-P Ctrl-Q ends in `chunk` (the bytes before it are still to be sent);
/// `last` carries a Ctrl-P at the end of the previous chunk.
fn detach_keys(last: &mut u8, chunk: &[u8]) -> Option<usize> {
    for (i, b) in chunk.iter().enumerate() {
        if *last == 0x10 && *b == 0x11 {
            return Some(i.saturating_sub(1));
        }
        *last = *b;
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn detach_keys_across_chunks() {
        let mut last = 0;
        assert_eq!(super::detach_keys(&mut last, b"ab\x10\x11"), Some(2));
        let mut last = 0;
        assert_eq!(super::detach_keys(&mut last, b"ab\x10"), None);
        assert_eq!(super::detach_keys(&mut last, b"\x11"), Some(0));
        let mut last = 0;
        assert_eq!(super::detach_keys(&mut last, b"\x10x\x11"), None);
    }
}
