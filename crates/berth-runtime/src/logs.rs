//! Container logs: JSON lines (`{"log":"...","stream":"stdout","time":"..."}`, Docker's
//! json-file format), rotated by size, read back with tail/since/follow.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const LOG_FILE: &str = "container-json.log";
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1000 * 1000;
pub const DEFAULT_MAX_FILES: u32 = 3;

#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Appends lines to the log, rotating `file` → `file.1` → … when it passes `max_size`.
pub struct LogWriter {
    path: PathBuf,
    max_size: u64,
    max_files: u32,
    inner: Mutex<(File, u64)>,
}

impl LogWriter {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<LogWriter> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        let len = f.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            max_size,
            max_files: max_files.max(1),
            inner: Mutex::new((f, len)),
        })
    }

    pub fn write(&self, stream: &str, data: &[u8]) -> io::Result<()> {
        let line = Line {
            log: String::from_utf8_lossy(data).into_owned(),
            stream: stream.to_string(),
            time: jiff::Timestamp::now().to_string(),
        };
        let mut bytes = serde_json::to_vec(&line).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if self.max_size > 0 && g.1 + bytes.len() as u64 > self.max_size && g.1 > 0 {
            for i in (1..self.max_files).rev() {
                let from = if i == 1 {
                    self.path.clone()
                } else {
                    rotated(&self.path, i - 1)
                };
                let _ = std::fs::rename(&from, rotated(&self.path, i));
            }
            if self.max_files == 1 {
                let _ = std::fs::remove_file(&self.path);
            }
            g.0 = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            g.1 = 0;
        }
        g.0.write_all(&bytes)?;
        g.1 += bytes.len() as u64;
        Ok(())
    }
}

fn rotated(p: &Path, i: u32) -> PathBuf {
    PathBuf::from(format!("{}.{i}", p.display()))
}

/// Copies a stream into the log line by line (and to `echo` as it comes, if given).
pub fn pump(
    mut from: impl io::Read,
    stream: &str,
    log: &LogWriter,
    mut echo: Option<&mut dyn Write>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if let Some(w) = echo.as_mut() {
            let _ = w.write_all(&buf[..n]);
            let _ = w.flush();
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let rest = pending.split_off(i + 1);
            let _ = log.write(stream, &pending);
            pending = rest;
        }
        if pending.len() > 16 * 1024 {
            let _ = log.write(stream, &pending);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        let _ = log.write(stream, &pending);
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    pub tail: Option<usize>,
    pub since: Option<jiff::Timestamp>,
    pub timestamps: bool,
}

/// All log files oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..100)
        .map(|i| rotated(path, i))
        .filter(|p| p.exists())
        .collect();
    v.reverse();
    if path.exists() {
        v.push(path.to_path_buf());
    }
    v
}

fn emit(
    line: &str,
    opts: &ReadOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let Ok(l) = serde_json::from_str::<Line>(line) else {
        return Ok(());
    };
    if let Some(since) = opts.since {
        if l.time
            .parse::<jiff::Timestamp>()
            .map(|t| t < since)
            .unwrap_or(false)
        {
            return Ok(());
        }
    }
    let w: &mut dyn Write = if l.stream == "stderr" { err } else { out };
    if opts.timestamps {
        write!(w, "{} ", l.time)?;
    }
    w.write_all(l.log.as_bytes())?;
    w.flush()
}

/// Prints what the log holds; returns the position reached in the newest file.
pub fn read(
    path: &Path,
    opts: &ReadOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<u64> {
    let mut lines: Vec<String> = Vec::new();
    for f in files(path) {
        for l in BufReader::new(File::open(&f)?).lines() {
            lines.push(l?);
        }
    }
    let skip = opts
        .tail
        .map(|t| lines.len().saturating_sub(t))
        .unwrap_or(0);
    for l in &lines[skip..] {
        emit(l, opts, out, err)?;
    }
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

/// Prints lines appended after `pos` until `done()` says the writer is gone.
pub fn follow(
    path: &Path,
    mut pos: u64,
    opts: &ReadOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    done: &dyn Fn() -> bool,
) -> io::Result<()> {
    let mut partial = String::new();
    loop {
        let finished = done();
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0; // rotated
        }
        if len > pos {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(pos))?;
            let mut r = BufReader::new(f);
            loop {
                let mut s = String::new();
                let n = r.read_line(&mut s)?;
                if n == 0 {
                    break;
                }
                pos += n as u64;
                partial.push_str(&s);
                if partial.ends_with('\n') {
                    emit(partial.trim_end_matches('\n'), opts, out, err)?;
                    partial.clear();
                }
            }
        }
        if finished {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rotates_and_reads_back() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(LOG_FILE);
        let w = LogWriter::open(&p, 300, 2).unwrap();
        for i in 0..20 {
            w.write(
                if i % 2 == 0 { "stdout" } else { "stderr" },
                format!("line {i}\n").as_bytes(),
            )
            .unwrap();
        }
        assert!(
            rotated(&p, 1).exists() && !rotated(&p, 2).exists(),
            "keeps max-files"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        read(
            &p,
            &ReadOptions {
                tail: Some(2),
                since: None,
                timestamps: false,
            },
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "line 18\n");
        assert_eq!(String::from_utf8(err).unwrap(), "line 19\n");
    }
}
