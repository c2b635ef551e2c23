//! The log lines' way to stdout: a thread of its own writes them, so no
//! request waits on a terminal or a log pipe, and while stdout cannot keep
//! up, lines past the limit are dropped and counted.
//!
//! Written here instead of tracing-appender's `NonBlocking`, for two
//! reasons. Its bounded channel allocates and touches a slot for every line
//! that may wait as soon as it starts: 16,384 × 32 bytes, 0.5 MiB resident
//! in every service whether a line ever waits or not (scripts/bench). And
//! it writes each line with a system call of its own. Here the queue is
//! std's unbounded channel, which holds the lines that wait and no more
//! (in blocks of 31), a count bounds it, and the lines the thread finds
//! waiting go out in one write.

use std::{
    io::{self, Write},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc::{self, Receiver, Sender},
    },
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// Lines taken off the queue are gathered up to this many bytes, then written.
const MAX_WRITE: usize = 64 * 1024;

enum Message {
    Line(Vec<u8>),
    Stop,
}

/// What the writers and the thread share.
#[derive(Debug, Default)]
struct Counts {
    /// Lines sent and not yet taken by the thread.
    waiting: AtomicUsize,
    dropped: AtomicU64,
}

/// The log layer's writer: each line it is given is queued for the thread.
#[derive(Debug)]
pub struct StdoutWriter {
    sender: Sender<Message>,
    counts: Arc<Counts>,
    limit: usize,
}

/// Stops the thread, after it has written what waits.
#[derive(Debug)]
pub struct StdoutGuard {
    sender: Sender<Message>,
    stopped: Receiver<()>,
    counts: Arc<Counts>,
}

/// Starts the thread that writes to `out`; at most `limit` lines wait for it.
pub fn start<W: Write + Send + 'static>(out: W, limit: usize) -> io::Result<(StdoutWriter, StdoutGuard)> {
    let (sender, lines) = mpsc::channel();
    let (done, stopped) = mpsc::channel();
    let counts = Arc::new(Counts::default());
    std::thread::Builder::new().name("stdout-lines".into()).spawn({
        let counts = counts.clone();
        move || {
            write_lines(&lines, &counts, out);
            let _ = done.send(());
        }
    })?;
    let guard = StdoutGuard { sender: sender.clone(), stopped, counts: counts.clone() };
    Ok((StdoutWriter { sender, counts, limit }, guard))
}

/// The thread: waits for a line, then takes every line already waiting,
/// and writes them together; until told to stop or every writer is gone.
fn write_lines<W: Write>(lines: &Receiver<Message>, counts: &Counts, mut out: W) {
    let mut batch = Vec::new();
    let mut next = lines.recv().ok();
    while let Some(message) = next {
        let stop = match message {
            Message::Line(line) => {
                counts.waiting.fetch_sub(1, Ordering::Relaxed);
                batch.extend_from_slice(&line);
                false
            }
            Message::Stop => true,
        };
        next = if stop { None } else { lines.try_recv().ok() };
        if next.is_none() || batch.len() >= MAX_WRITE {
            // Nowhere to report a failed write to but stdout itself.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            batch.shrink_to(MAX_WRITE);
        }
        if next.is_none() && !stop {
            next = lines.recv().ok();
        }
    }
}

impl StdoutWriter {
    fn send(&self, line: &[u8]) {
        // Lossy: with `limit` lines waiting, the line is dropped rather than
        // making the request wait.
        if self.counts.waiting.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Fails only once the thread has stopped (at shutdown): nobody writes it.
        if self.sender.send(Message::Line(line.to_vec())).is_err() {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The layer writes each formatted line with one `write_all`.
impl Write for &StdoutWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.send(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StdoutWriter {
    type Writer = &'a StdoutWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl StdoutGuard {
    /// Lines dropped so far because too many were waiting.
    pub fn dropped_lines(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Tells the thread to write what waits and stop; waits for it at most
    /// `timeout` (a stalled pipe may hold it forever: it is then left).
    pub fn stop(self, timeout: Duration) {
        if self.sender.send(Message::Stop).is_ok() {
            let _ = self.stopped.recv_timeout(timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, mpsc::SyncSender};

    use super::*;

    /// A stdout that keeps each write, and can be made to hang in one.
    #[derive(Clone, Default)]
    struct Captured {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        hold: Option<Hold>,
    }

    /// Told when a write starts; the write then waits to be released.
    #[derive(Clone)]
    struct Hold {
        started: SyncSender<()>,
        release: Arc<Mutex<Receiver<()>>>,
    }

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if let Some(hold) = &self.hold {
                // Either end may be gone once the test is over.
                let _ = hold.started.send(());
                let _ = hold.release.lock().unwrap().recv();
            }
            self.writes.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A stdout whose every write waits until released; (started, release).
    fn held() -> (Captured, Receiver<()>, SyncSender<()>) {
        let (started, started_rx) = mpsc::sync_channel(0);
        let (release, release_rx) = mpsc::sync_channel(0);
        let out = Captured {
            writes: Arc::default(),
            hold: Some(Hold { started, release: Arc::new(Mutex::new(release_rx)) }),
        };
        (out, started_rx, release)
    }

    fn line(writer: &StdoutWriter, text: &str) {
        (&mut &*writer).write_all(text.as_bytes()).unwrap();
    }

    fn written(out: &Captured) -> String {
        String::from_utf8(out.writes.lock().unwrap().concat()).unwrap()
    }

    #[test]
    fn lines_are_written_in_order_and_flushed_at_stop() {
        let out = Captured::default();
        let (writer, guard) = start(out.clone(), 100).unwrap();
        let lines: Vec<String> = (0..50).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        for text in &lines {
            line(&writer, text);
        }
        guard.stop(Duration::from_secs(5));
        assert_eq!(written(&out), lines.concat());
        // After the thread has gone, a line is dropped quietly.
        line(&writer, "late\n");
    }

    #[test]
    fn lines_that_wait_go_out_in_one_write() {
        let (out, started, release) = held();
        let (writer, guard) = start(out.clone(), 100).unwrap();
        line(&writer, "first\n");
        // The thread has taken the first line and hangs in its write.
        started.recv().unwrap();
        for i in 0..10 {
            line(&writer, &format!("{i}\n"));
        }
        release.send(()).unwrap();
        started.recv().unwrap();
        release.send(()).unwrap();
        guard.stop(Duration::from_secs(5));
        let writes = out.writes.lock().unwrap().clone();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[1], b"0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
    }

    #[test]
    fn past_the_limit_lines_are_dropped_and_counted_without_waiting() {
        let (out, started, release) = held();
        let (writer, guard) = start(out.clone(), 4).unwrap();
        line(&writer, "taken\n");
        started.recv().unwrap();
        // The thread is stuck: four lines wait, three more are dropped.
        for i in 0..7 {
            line(&writer, &format!("{i}\n"));
        }
        assert_eq!(guard.dropped_lines(), 3);
        release.send(()).unwrap();
        started.recv().unwrap();
        release.send(()).unwrap();
        guard.stop(Duration::from_secs(5));
        assert_eq!(written(&out), "taken\n0\n1\n2\n3\n");
    }

    #[test]
    fn stop_gives_up_on_a_stuck_stdout_after_its_timeout() {
        let (out, started, _release) = held();
        let (writer, guard) = start(out, 4).unwrap();
        line(&writer, "stuck\n");
        started.recv().unwrap();
        let begun = std::time::Instant::now();
        guard.stop(Duration::from_millis(200));
        assert!(begun.elapsed() < Duration::from_secs(5));
    }
}
