//! A one-line progress display on stderr, only when it is a terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Redraws a one-line status every quarter second until dropped.
pub struct Display {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Display {
    /// Start drawing `line(elapsed seconds)` if `enabled`.
    pub fn start(line: Box<dyn Fn(f64) -> String + Send>, enabled: bool) -> Display {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = enabled.then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(250));
                    let secs = start.elapsed().as_secs_f64().max(0.001);
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[K{}", line(secs));
                    let _ = err.flush();
                }
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            })
        });
        Display { stop, thread }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Bytes as a short human string.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}
