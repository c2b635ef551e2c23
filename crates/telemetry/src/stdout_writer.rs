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

/// The most one write carries (a single longer line goes alone).
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
    /// Lines dropped: too many waiting, or their write failed.
    dropped: AtomicU64,
}

/// The log layer's writer: each line it is given is queued for the thread.
#[derive(Debug)]
pub struct StdoutWriter {
    sender: Sender<Message>,
    counts: Arc<Counts>,
    limit: usize,
}

/// Stops the thread, after it has written what waits (on [`stop`] or
/// drop, once).
///
/// [`stop`]: StdoutGuard::stop
#[derive(Debug)]
pub struct StdoutGuard {
    sender: Sender<Message>,
    stopped: Receiver<()>,
    counts: Arc<Counts>,
    /// How long stopping waits for the thread: a pipe nobody reads would
    /// hold it forever.
    stop_timeout: Duration,
    done: bool,
}

/// Starts the thread that writes to `out`; at most `limit` lines wait for it.
pub fn start<W: Write + Send + 'static>(
    out: W,
    limit: usize,
    stop_timeout: Duration,
) -> io::Result<(StdoutWriter, StdoutGuard)> {
    let (sender, lines) = mpsc::channel();
    let (done, stopped) = mpsc::channel();
    let counts = Arc::new(Counts::default());
    std::thread::Builder::new().name("stdout-lines".into()).spawn({
        let counts = counts.clone();
        move || {
            // Takes the queue's receiving end, and drops it on return: a line
            // sent after that is refused at once, not left in the channel.
            write_lines(lines, &counts, out);
            let _ = done.send(());
        }
    })?;
    let guard = StdoutGuard { sender: sender.clone(), stopped, counts: counts.clone(), stop_timeout, done: false };
    Ok((StdoutWriter { sender, counts, limit }, guard))
}

/// The thread: waits for a line, takes every line already waiting, and
/// writes them together (in writes of at most [`MAX_WRITE`] bytes); until
/// told to stop or every writer is gone.
fn write_lines<W: Write>(lines: Receiver<Message>, counts: &Counts, mut out: W) {
    let mut batch = Batch::default();
    while let Ok(first) = lines.recv() {
        let mut message = Some(first);
        while let Some(current) = message.take() {
            match current {
                Message::Line(line) => {
                    counts.waiting.fetch_sub(1, Ordering::Relaxed);
                    if !batch.bytes.is_empty() && batch.bytes.len() + line.len() > MAX_WRITE {
                        batch.write(&mut out, counts);
                    }
                    batch.bytes.extend_from_slice(&line);
                    batch.lines += 1;
                }
                Message::Stop => return batch.write(&mut out, counts),
            }
            message = lines.try_recv().ok();
        }
        batch.write(&mut out, counts);
    }
}

/// Lines taken off the queue and not yet written.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
}

impl Batch {
    /// Writes the lines; if the write fails (nowhere to say so but stdout
    /// itself), they count as dropped.
    fn write<W: Write>(&mut self, out: &mut W, counts: &Counts) {
        if self.lines == 0 {
            return;
        }
        if out.write_all(&self.bytes).and_then(|()| out.flush()).is_err() {
            counts.dropped.fetch_add(self.lines, Ordering::Relaxed);
        }
        self.bytes.clear();
        // Only a single line longer than a write grows it past that.
        self.bytes.shrink_to(MAX_WRITE);
        self.lines = 0;
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
        // Fails only once the thread has returned (after stopping): nobody
        // would write the line.
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
    /// Lines dropped so far: too many were waiting, or stdout refused them.
    pub fn dropped_lines(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Tells the thread to write what waits and stop, and waits for it at
    /// most the stop timeout.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if self.sender.send(Message::Stop).is_ok() {
            let _ = self.stopped.recv_timeout(self.stop_timeout);
        }
    }
}

impl Drop for StdoutGuard {
    fn drop(&mut self) {
        self.finish();
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

    const SOON: Duration = Duration::from_secs(5);

    #[test]
    fn lines_are_written_in_order_and_flushed_at_stop() {
        let out = Captured::default();
        let (writer, guard) = start(out.clone(), 100, SOON).unwrap();
        let lines: Vec<String> = (0..50).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        for text in &lines {
            line(&writer, text);
        }
        let counts = guard.counts.clone();
        guard.stop();
        assert_eq!(written(&out), lines.concat());
        // After the thread has returned, a line is refused at once: not
        // written, not counted as waiting or dropped.
        line(&writer, "late\n");
        assert_eq!(written(&out), lines.concat());
        assert_eq!((counts.waiting.load(Ordering::Relaxed), counts.dropped.load(Ordering::Relaxed)), (0, 0));
    }

    #[test]
    fn dropping_the_guard_flushes_too() {
        let out = Captured::default();
        let (writer, guard) = start(out.clone(), 100, SOON).unwrap();
        line(&writer, "one\n");
        line(&writer, "two\n");
        drop(guard);
        assert_eq!(written(&out), "one\ntwo\n");
    }

    #[test]
    fn lines_that_wait_go_out_in_one_write() {
        let (out, started, release) = held();
        let (writer, guard) = start(out.clone(), 100, SOON).unwrap();
        line(&writer, "first\n");
        // The thread has taken the first line and hangs in its write.
        started.recv().unwrap();
        for i in 0..10 {
            line(&writer, &format!("{i}\n"));
        }
        release.send(()).unwrap();
        started.recv().unwrap();
        release.send(()).unwrap();
        guard.stop();
        let writes = out.writes.lock().unwrap().clone();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[1], b"0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
    }

    #[test]
    fn a_write_carries_at_most_max_write_bytes_of_whole_lines() {
        let (out, started, release) = held();
        let (writer, guard) = start(out.clone(), 1000, SOON).unwrap();
        line(&writer, "first\n");
        started.recv().unwrap();
        // 300 lines of 1,000 bytes wait: five writes of whole lines.
        let lines: Vec<String> = (0..300).map(|i| format!("{i:0>999}\n")).collect();
        for text in &lines {
            line(&writer, text);
        }
        // Released until the thread has nothing left to write.
        let releaser = std::thread::spawn(move || while release.send(()).is_ok() && started.recv().is_ok() {});
        guard.stop();
        drop(releaser);
        let writes = out.writes.lock().unwrap().clone();
        assert_eq!(
            writes.len(),
            1 + 300_usize.div_ceil(MAX_WRITE / 1000),
            "{:?}",
            writes.iter().map(Vec::len).collect::<Vec<_>>()
        );
        assert!(writes.iter().all(|write| write.len() <= MAX_WRITE && write.ends_with(b"\n")));
        assert_eq!(written(&out), format!("first\n{}", lines.concat()));
    }

    #[test]
    fn past_the_limit_lines_are_dropped_and_counted_without_waiting() {
        let (out, started, release) = held();
        let (writer, guard) = start(out.clone(), 4, SOON).unwrap();
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
        guard.stop();
        assert_eq!(written(&out), "taken\n0\n1\n2\n3\n");
    }

    /// A stdout whose writes all fail (a closed pipe, say).
    struct Refusing;

    impl Write for Refusing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_stdout_refuses_count_as_dropped() {
        let (writer, guard) = start(Refusing, 100, SOON).unwrap();
        for i in 0..20 {
            line(&writer, &format!("{i}\n"));
        }
        let counts = guard.counts.clone();
        guard.stop();
        assert_eq!(counts.dropped.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn stop_gives_up_on_a_stuck_stdout_after_its_timeout() {
        let (out, started, _release) = held();
        let (writer, guard) = start(out, 4, Duration::from_millis(200)).unwrap();
        line(&writer, "stuck\n");
        started.recv().unwrap();
        let begun = std::time::Instant::now();
        guard.stop();
        let waited = begun.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < SOON, "{waited:?}");
    }
}
