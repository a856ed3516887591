//! Progress for long operations: bars on a terminal, plain lines otherwise (CI logs).

use berth_store::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

pub enum Reporter {
    Bar(Mutex<Option<ProgressBar>>),
    Lines(Mutex<(String, u64, Instant)>),
    Silent,
}

impl Reporter {
    /// Bars when stderr is a terminal, lines otherwise; nothing when `quiet`.
    pub fn new(quiet: bool) -> Reporter {
        if quiet {
            Reporter::Silent
        } else if std::io::stderr().is_terminal() {
            Reporter::Bar(Mutex::new(None))
        } else {
            Reporter::Lines(Mutex::new((String::new(), 0, Instant::now())))
        }
    }
}

impl Progress for Reporter {
    fn begin(&self, label: &str, total: Option<u64>) {
        match self {
            Reporter::Bar(b) => {
                let bar = match total {
                    Some(t) => ProgressBar::new(t).with_style(
                        ProgressStyle::with_template(
                            "{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    ),
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{spinner} {msg:24} {bytes} {bytes_per_sec}")
                            .expect("valid template"),
                    ),
                };
                bar.set_message(label.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                if let Some(old) = b.lock().unwrap().replace(bar) {
                    old.finish_and_clear();
                }
            }
            Reporter::Lines(s) => {
                eprintln!("{label} ...");
                *s.lock().unwrap() = (label.to_string(), 0, Instant::now());
            }
            Reporter::Silent => {}
        }
    }

    fn advance(&self, bytes: u64) {
        match self {
            Reporter::Bar(b) => {
                if let Some(bar) = b.lock().unwrap().as_ref() {
                    bar.inc(bytes)
                }
            }
            Reporter::Lines(s) => s.lock().unwrap().1 += bytes,
            Reporter::Silent => {}
        }
    }

    fn end(&self, msg: &str) {
        match self {
            Reporter::Bar(b) => {
                if let Some(bar) = b.lock().unwrap().take() {
                    bar.finish_and_clear();
                }
                eprintln!("{msg}");
            }
            Reporter::Lines(s) => {
                let (label, n, start) = &*s.lock().unwrap();
                let secs = start.elapsed().as_secs_f64();
                if *n > 0 {
                    eprintln!(
                        "{label}: {msg}, {} read in {secs:.1}s",
                        crate::output::human_size(*n)
                    );
                } else {
                    eprintln!("{label}: {msg} ({secs:.1}s)");
                }
            }
            Reporter::Silent => {}
        }
    }

    fn line(&self, msg: &str) {
        match self {
            Reporter::Bar(b) => match b.lock().unwrap().as_ref() {
                Some(bar) => bar.println(msg),
                None => eprintln!("{msg}"),
            },
            Reporter::Lines(_) => eprintln!("{msg}"),
            Reporter::Silent => {}
        }
    }
}
