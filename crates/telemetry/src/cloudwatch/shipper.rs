//! The shipper: a thread with a runtime of its own (never an actix worker's),
//! which creates the group and stream, batches lines and calls PutLogEvents.

use std::{
    collections::VecDeque,
    sync::{Arc, atomic::Ordering},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use aws_sdk_cloudwatchlogs::{
    Client,
    config::{http::HttpResponse, timeout::TimeoutConfig},
    error::{ProvideErrorMetadata, SdkError},
    types::InputLogEvent,
};
use tokio::sync::mpsc;
use tracing_subscriber::Layer;

use super::{
    batch::{self, LogEvent},
    channel::{Message, Shared, mark_shipper_thread},
    config::CloudWatchConfig,
    layer::CloudWatchLayer,
    payload_hash::PayloadHash,
};
use crate::{error::TelemetryError, instance::hostname};

/// Waits after a failed call before the next, doubling up to the maximum.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct Shipper {
    queue: mpsc::Sender<Message>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    pub log_group: String,
    pub log_stream: String,
}

impl Shipper {
    /// Starts the shipper thread; the layer feeds it.
    pub fn start<S>(config: CloudWatchConfig, service: &str) -> Result<(Self, impl Layer<S>), TelemetryError>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let (queue, events) = mpsc::channel(config.buffer_events);
        let shared = Arc::new(Shared::new(config.buffer_bytes));
        let log_stream = stream_name(service);
        let layer = CloudWatchLayer::new(service, config.level, queue.clone(), shared.clone());
        let log_group = config.log_group.clone();
        let (thread_shared, stream) = (shared.clone(), log_stream.clone());
        let thread = std::thread::Builder::new()
            .name("cloudwatch-logs".into())
            .spawn(move || {
                mark_shipper_thread();
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(run(config, stream, events, thread_shared)),
                    Err(err) => tracing::error!(target: "telemetry", error = %err, "CloudWatch shipper cannot start"),
                }
            })
            .map_err(|err| TelemetryError::Exporter(format!("cannot start the CloudWatch shipper: {err}")))?;
        Ok((Self { queue, shared, thread: Some(thread), log_group, log_stream }, layer))
    }

    /// Sends what is still queued and stops, waiting at most `limit`.
    /// Call it outside any async runtime: it blocks.
    pub fn shutdown(mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let (done, stopped) = std::sync::mpsc::channel();
        let mut message = Message::Shutdown(done);
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
        if stopped.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        } else {
            // The shipper is still sending (CloudWatch slow or unreachable):
            // what it holds is lost with the process, and said so.
            let queued = self.queue.max_capacity() - self.queue.capacity();
            tracing::warn!(
                target: "telemetry",
                queued_lines = queued,
                held_lines = self.shared.held.load(Ordering::Relaxed),
                "CloudWatch did not take the last log lines within the shutdown budget; they are lost"
            );
        }
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(target: "telemetry", dropped_lines = dropped, "log lines not shipped to CloudWatch");
        }
    }
}

/// `{service}/{host}/{pid}-{start time}`: which service and which instance
/// wrote a stream, readable in the console; unique across restarts.
fn stream_name(service: &str) -> String {
    let host = hostname();
    let started = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    // ':' and '*' are not allowed in stream names.
    format!("{service}/{host}/{}-{started}", std::process::id()).replace([':', '*'], "-")
}

struct Sender {
    client: Client,
    group: String,
    stream: String,
    retention_days: Option<i32>,
    ready: bool,
    pending: Vec<LogEvent>,
    pending_bytes: usize,
    /// Held for retry at most: `CLOUDWATCH_BUFFER_EVENTS` lines, `CLOUDWATCH_BUFFER_BYTES` bytes.
    capacity: usize,
    capacity_bytes: usize,
    retry_at: Option<Instant>,
    backoff: Duration,
    shared: Arc<Shared>,
}

async fn run(config: CloudWatchConfig, stream: String, mut events: mpsc::Receiver<Message>, shared: Arc<Shared>) {
    // Short timeouts: the shipper's waits cost buffered lines, never requests,
    // but a black-holed endpoint must not hold a batch for minutes.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    if let Some(reason) = unusable(&sdk).await {
        shared.enabled.store(false, Ordering::Relaxed);
        tracing::warn!(target: "telemetry", "CloudWatch Logs export off: {reason}");
        // Keep answering the shutdown message.
        while let Some(message) = events.recv().await {
            if let Message::Shutdown(done) = message {
                let _ = done.send(());
                return;
            }
        }
        return;
    }
    let mut sender = Sender {
        client: Client::from_conf(aws_sdk_cloudwatchlogs::config::Builder::from(&sdk).interceptor(PayloadHash).build()),
        group: config.log_group,
        stream,
        retention_days: config.retention_days,
        ready: false,
        pending: Vec::new(),
        pending_bytes: 0,
        capacity: config.buffer_events,
        capacity_bytes: config.buffer_bytes,
        retry_at: None,
        backoff: FIRST_BACKOFF,
        shared,
    };
    let mut tick = tokio::time::interval(config.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = events.recv() => match message {
                Some(Message::Event(event)) => {
                    sender.shared.release(event.size());
                    sender.push(event);
                    if sender.pending.len() >= batch::MAX_EVENTS || sender.pending_bytes >= batch::FLUSH_BYTES {
                        sender.flush(false).await;
                    }
                }
                Some(Message::Shutdown(done)) => {
                    // What the layer queued before the shutdown message.
                    while let Ok(Message::Event(event)) = events.try_recv() {
                        sender.shared.release(event.size());
                        sender.push(event);
                    }
                    sender.flush(true).await;
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
            _ = tick.tick() => sender.flush(false).await,
        }
    }
}

/// Why CloudWatch cannot be used at all (no region, no credentials), said once.
async fn unusable(sdk: &aws_config::SdkConfig) -> Option<String> {
    use aws_sdk_cloudwatchlogs::config::ProvideCredentials;
    if sdk.region().is_none() {
        return Some("no AWS region (set AWS_REGION or AWS_DEFAULT_REGION)".into());
    }
    let provider = sdk.credentials_provider()?;
    match provider.provide_credentials().await {
        Ok(_) => None,
        // The error names the providers tried, never a secret.
        Err(err) => Some(format!("no AWS credentials ({err})")),
    }
}

impl Sender {
    fn push(&mut self, event: LogEvent) {
        if self.pending.len() >= self.capacity || self.pending_bytes + event.size() > self.capacity_bytes {
            // CloudWatch has been away long enough to fill the buffer: drop.
            self.lose(1);
            return;
        }
        self.pending_bytes += event.size();
        self.pending.push(event);
        self.shared.held.store(self.pending.len() as u64, Ordering::Relaxed);
    }

    fn lose(&self, lines: u64) {
        self.shared.dropped.fetch_add(lines, Ordering::Relaxed);
    }

    /// Sends what is pending, unless backing off (`last` ignores the backoff:
    /// it is the last chance at shutdown).
    async fn flush(&mut self, last: bool) {
        if self.pending.is_empty() || (!last && self.retry_at.is_some_and(|at| Instant::now() < at)) {
            return;
        }
        self.pending_bytes = 0;
        let mut batches: VecDeque<Vec<LogEvent>> = batch::into_batches(std::mem::take(&mut self.pending)).into();
        // A stream or group deleted while running is created again at once,
        // once a flush: a second loss in the same flush waits for the backoff.
        let mut recreate = true;
        let mut failure = None;
        while let Some(batch) = batches.pop_front() {
            match self.send(&batch).await {
                Ok(rejected) => self.lose(rejected),
                Err(SendError::Gone(_)) if recreate => {
                    recreate = false;
                    batches.push_front(batch);
                }
                Err(err @ SendError::Refused(_)) => {
                    // Refused for what this batch holds: sending it again
                    // would be refused again. The others may still be taken:
                    // at shutdown now, else after the backoff.
                    self.lose(batch.len() as u64);
                    failure = Some(err);
                    if !last {
                        break;
                    }
                }
                Err(err) => {
                    // Nothing gets through for now: this batch waits with the rest.
                    batches.push_front(batch);
                    failure = Some(err);
                    break;
                }
            }
        }
        // What was not sent is kept for the next attempt while it fits; at
        // shutdown there is none, and every line given up is counted.
        if last {
            self.lose(batches.iter().map(Vec::len).sum::<usize>() as u64);
        } else {
            for event in batches.into_iter().flatten() {
                self.push(event);
            }
        }
        // Until here, the lines of the calls just made counted as held.
        self.shared.held.store(self.pending.len() as u64, Ordering::Relaxed);
        match failure {
            Some(err) => self.failed(err),
            None => {
                self.retry_at = None;
                self.backoff = FIRST_BACKOFF;
            }
        }
    }

    fn failed(&mut self, err: SendError) {
        if !self.shared.failure_reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "telemetry", error = %err, "CloudWatch Logs export failed; lines are kept for retry while they fit, then dropped");
        }
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// One batch: the stream (and group) first when not known to exist.
    /// Ok: how many events CloudWatch rejected.
    async fn send(&mut self, batch: &[LogEvent]) -> Result<u64, SendError> {
        if !self.ready {
            self.prepare().await.map_err(SendError::NotReady)?;
            self.ready = true;
        }
        let answer = self.put(batch).await;
        if let Err(SendError::Gone(_)) = answer {
            // Deleted under us: the next call creates it again.
            self.ready = false;
        }
        answer
    }

    /// Creates the stream, and the group only when the stream cannot be made
    /// for want of it (the CloudWatch agent's order): a role allowed only
    /// logs:CreateLogStream and logs:PutLogEvents ships to a group that
    /// exists. Existing is fine. Then sets the retention when asked.
    async fn prepare(&self) -> Result<(), String> {
        let stream = || self.client.create_log_stream().log_group_name(&self.group).log_stream_name(&self.stream);
        match stream().send().await {
            Err(err) if err.code() == Some("ResourceNotFoundException") => {
                let group = self.client.create_log_group().log_group_name(&self.group).send().await;
                existing_is_fine(group)?;
                existing_is_fine(stream().send().await)?;
            }
            created => existing_is_fine(created)?,
        }
        if let Some(days) = self.retention_days {
            let policy = self.client.put_retention_policy().log_group_name(&self.group).retention_in_days(days);
            // A role without logs:PutRetentionPolicy still ships: the lines
            // matter more than how long they are kept. Said, not fatal.
            if let Err(err) = policy.send().await {
                tracing::warn!(target: "telemetry", error = %describe(&err), retention_days = days, "CloudWatch Logs retention not set");
            }
        }
        Ok(())
    }

    /// One PutLogEvents call; the SDK retries throttling and 5xx with backoff.
    /// Ok: how many events CloudWatch rejected.
    async fn put(&self, batch: &[LogEvent]) -> Result<u64, SendError> {
        let events: Vec<InputLogEvent> = batch
            .iter()
            .filter_map(|event| {
                InputLogEvent::builder().timestamp(event.timestamp).message(event.message.clone()).build().ok()
            })
            .collect();
        let count = events.len();
        let answer = self
            .client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(&self.stream)
            .set_log_events(Some(events))
            .send()
            .await;
        match answer {
            Ok(output) => Ok(output.rejected_log_events_info().map_or(0, |info| rejected(info, count))),
            Err(err) => Err(classify(&err)),
        }
    }
}

/// Why a batch was not taken, which decides what becomes of its lines.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The stream (or group) could not be created: nothing can be sent yet.
    #[error("{0}")]
    NotReady(String),
    /// The stream or group is gone (deleted while running): create it again.
    #[error("{0}")]
    Gone(String),
    /// No answer, throttling or CloudWatch's own failure: worth another try.
    #[error("{0}")]
    Unavailable(String),
    /// An answer about this batch that another try would not change.
    #[error("{0}")]
    Refused(String),
}

/// A create call whose resource already exists did what was needed; any
/// other failure is described.
fn existing_is_fine<T, E>(created: Result<T, SdkError<E, HttpResponse>>) -> Result<(), String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match created {
        Err(err) if err.code() != Some("ResourceAlreadyExistsException") => Err(describe(&err)),
        _ => Ok(()),
    }
}

/// Events CloudWatch refused (too old, expired, too new) out of `count`.
/// The batch is in time order: the too old and the expired are a run at its
/// start, their end indexes exclusive (the API reference says so of
/// tooOldLogEventEndIndex; expiredLogEventEndIndex is read alike), and the
/// too new a run at its end from an inclusive start. Runs that overlap are
/// counted once.
fn rejected(info: &aws_sdk_cloudwatchlogs::types::RejectedLogEventsInfo, count: usize) -> u64 {
    let count = count as i64;
    let index = |i: Option<i32>| i.map(|i| i64::from(i).clamp(0, count));
    let old = index(info.too_old_log_event_end_index()).unwrap_or(0);
    let expired = index(info.expired_log_event_end_index()).unwrap_or(0);
    let start = old.max(expired);
    let new = index(info.too_new_log_event_start_index()).unwrap_or(count).max(start);
    (start + count - new) as u64
}

fn classify<E>(err: &SdkError<E, HttpResponse>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let reason = describe(err);
    match err {
        SdkError::ServiceError(service) => match service.err().code().unwrap_or_default() {
            "ResourceNotFoundException" => SendError::Gone(reason),
            // What the batch itself holds: sending it again changes nothing.
            "InvalidParameterException"
            | "ValidationException"
            | "SerializationException"
            | "DataAlreadyAcceptedException" => SendError::Refused(reason),
            // Everything else is about the moment, not the batch: throttling,
            // a service fault, or credentials refused or expired (a role's
            // keys rotating, a clock skew, a policy fixed) — worth another try.
            _ => SendError::Unavailable(reason),
        },
        // Network failures, timeouts and unreadable answers are worth another try.
        _ => SendError::Unavailable(reason),
    }
}

/// What went wrong, for the person on call: a refusal of the credentials
/// says so (a bare 403 from a proxy or policy carries no AWS error code),
/// other answers give their status and AWS code, and a call that got no
/// answer says whether it timed out or could not connect.
fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let what = match (service.err().code(), service.err().message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, _) => "no AWS error code".to_owned(),
            };
            if status == 401 || status == 403 {
                format!(
                    "rejected (HTTP {status}, {what}): check the AWS credentials and their logs:CreateLogStream and logs:PutLogEvents permissions"
                )
            } else {
                format!("HTTP {status}, {what}")
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => {
            format!("unreachable: {}", aws_sdk_cloudwatchlogs::error::DisplayErrorContext(err))
        }
        other => aws_sdk_cloudwatchlogs::error::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(client: Client) -> Sender {
        Sender {
            client,
            group: "g".into(),
            stream: "s".into(),
            retention_days: None,
            ready: false,
            pending: Vec::new(),
            pending_bytes: 0,
            capacity: 10_000,
            capacity_bytes: 1000,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            shared: Arc::new(Shared::new(1000)),
        }
    }

    /// A sender whose CloudWatch answers each call with `answer(operation,
    /// how many times it was called before)`: `None` is success, `Some(code)`
    /// that AWS error (HTTP 400). Also what it was asked, in order.
    fn stub_sender(answer: impl Fn(&str, usize) -> Option<&'static str> + Send + Sync + 'static) -> (Sender, Calls) {
        use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
        let calls = Calls::default();
        let seen = calls.clone();
        let http_client = aws_smithy_http_client::test_util::infallible_client_fn(move |request| {
            let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
            let events = request.body().bytes().map_or(0, |body| {
                let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                body["logEvents"].as_array().map_or(0, Vec::len)
            });
            let mut calls = seen.0.lock().unwrap();
            let before = calls.iter().filter(|(name, _)| *name == operation).count();
            let code = answer(&operation, before);
            calls.push((operation, events));
            let response = http::Response::builder().header("content-type", "application/x-amz-json-1.1");
            match code {
                None => response.status(200).body("{}".to_owned()).unwrap(),
                Some(code) => response
                    .status(400)
                    .header("x-amzn-errortype", code)
                    .body(format!(r#"{{"__type":"{code}","message":"stub"}}"#))
                    .unwrap(),
            }
        });
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
            .http_client(http_client)
            .build();
        (sender(Client::from_conf(config)), calls)
    }

    /// The calls a stub CloudWatch got: operation, and events sent (PutLogEvents).
    #[derive(Clone, Default)]
    struct Calls(Arc<std::sync::Mutex<Vec<(String, usize)>>>);

    impl Calls {
        fn operations(&self) -> Vec<String> {
            self.0.lock().unwrap().iter().map(|(operation, _)| operation.clone()).collect()
        }

        /// Events per PutLogEvents call.
        fn puts(&self) -> Vec<usize> {
            let calls = self.0.lock().unwrap();
            calls.iter().filter(|(operation, _)| operation == "PutLogEvents").map(|(_, events)| *events).collect()
        }
    }

    /// `sizes` batches' worth of events: 25 hours apart, so never in one call.
    fn pend(sender: &mut Sender, sizes: &[usize]) {
        let day = 25 * 60 * 60 * 1000;
        for (i, &size) in sizes.iter().enumerate() {
            for _ in 0..size {
                sender.push(LogEvent::new(i as i64 * day, "line".to_owned()));
            }
        }
    }

    fn dropped(sender: &Sender) -> u64 {
        sender.shared.dropped.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_role_that_may_not_create_groups_ships_to_a_group_that_exists() {
        let (mut sender, calls) =
            stub_sender(|operation, _| (operation == "CreateLogGroup").then_some("AccessDeniedException"));
        pend(&mut sender, &[3]);
        sender.flush(false).await;
        assert_eq!(calls.operations(), ["CreateLogStream", "PutLogEvents"]);
        assert_eq!((dropped(&sender), sender.pending.len()), (0, 0));
    }

    #[tokio::test]
    async fn a_role_that_may_not_set_the_retention_still_ships() {
        let (mut sender, calls) =
            stub_sender(|operation, _| (operation == "PutRetentionPolicy").then_some("AccessDeniedException"));
        sender.retention_days = Some(7);
        pend(&mut sender, &[3]);
        sender.flush(false).await;
        assert_eq!(calls.operations(), ["CreateLogStream", "PutRetentionPolicy", "PutLogEvents"]);
        assert_eq!((dropped(&sender), sender.pending.len()), (0, 0));
    }

    #[tokio::test]
    async fn a_missing_group_is_created_and_then_the_stream() {
        let (mut sender, calls) = stub_sender(|operation, before| {
            (operation == "CreateLogStream" && before == 0).then_some("ResourceNotFoundException")
        });
        pend(&mut sender, &[3]);
        sender.flush(false).await;
        assert_eq!(calls.operations(), ["CreateLogStream", "CreateLogGroup", "CreateLogStream", "PutLogEvents"]);
        assert_eq!(calls.puts(), [3]);
    }

    #[tokio::test]
    async fn a_stream_deleted_while_running_is_created_again_and_the_batch_sent() {
        // The first PutLogEvents finds the stream gone, as after DeleteLogStream.
        let (mut sender, calls) = stub_sender(|operation, before| {
            (operation == "PutLogEvents" && before == 0).then_some("ResourceNotFoundException")
        });
        sender.ready = true;
        pend(&mut sender, &[3]);
        sender.flush(false).await;
        assert_eq!(calls.operations(), ["PutLogEvents", "CreateLogStream", "PutLogEvents"]);
        assert_eq!(calls.puts(), [3, 3]);
        assert_eq!((dropped(&sender), sender.pending.len()), (0, 0));
    }

    #[tokio::test]
    async fn a_stream_that_stays_gone_keeps_its_lines_for_a_later_flush() {
        // Re-created once a flush, not in a loop: the lines wait for the backoff.
        let (mut sender, calls) =
            stub_sender(|operation, _| (operation == "PutLogEvents").then_some("ResourceNotFoundException"));
        sender.ready = true;
        pend(&mut sender, &[3]);
        sender.flush(false).await;
        assert_eq!(calls.operations(), ["PutLogEvents", "CreateLogStream", "PutLogEvents"]);
        assert_eq!((dropped(&sender), sender.pending.len(), sender.ready), (0, 3, false));
        assert!(sender.retry_at.is_some());
    }

    #[tokio::test]
    async fn a_refused_batch_costs_its_own_lines_and_the_rest_still_go_out_at_shutdown() {
        let (mut sender, calls) = stub_sender(|operation, before| {
            (operation == "PutLogEvents" && before == 0).then_some("InvalidParameterException")
        });
        sender.ready = true;
        pend(&mut sender, &[2, 1, 3]);
        sender.flush(true).await;
        assert_eq!(calls.puts(), [2, 1, 3]);
        assert_eq!(dropped(&sender), 2);
    }

    #[tokio::test]
    async fn a_refused_batch_leaves_the_rest_held_for_the_next_flush() {
        let (mut sender, calls) = stub_sender(|operation, before| {
            (operation == "PutLogEvents" && before == 0).then_some("InvalidParameterException")
        });
        sender.ready = true;
        pend(&mut sender, &[2, 1, 3]);
        sender.flush(false).await;
        assert_eq!((calls.puts(), dropped(&sender), sender.pending.len()), (vec![2], 2, 4));
        sender.flush(true).await;
        assert_eq!((calls.puts(), dropped(&sender), sender.pending.len()), (vec![2, 1, 3], 2, 0));
    }

    #[tokio::test]
    async fn refused_credentials_cost_no_lines_until_the_last_flush() {
        // Keys rotating, a clock skew, a policy being fixed: about the
        // moment, not the batch. The lines wait, and are said held meanwhile.
        for code in ["ExpiredTokenException", "UnrecognizedClientException", "AccessDeniedException"] {
            let (mut sender, calls) =
                stub_sender(move |operation, before| (operation == "PutLogEvents" && before == 0).then_some(code));
            sender.ready = true;
            pend(&mut sender, &[2, 1]);
            sender.flush(false).await;
            assert_eq!((calls.puts(), dropped(&sender), sender.pending.len()), (vec![2], 0, 3), "{code}");
            assert_eq!(sender.shared.held.load(Ordering::Relaxed), 3, "{code}");
            sender.flush(true).await;
            assert_eq!((calls.puts(), dropped(&sender), sender.pending.len()), (vec![2, 2, 1], 0, 0), "{code}");
            assert_eq!(sender.shared.held.load(Ordering::Relaxed), 0, "{code}");
        }
    }

    #[tokio::test]
    async fn lines_given_up_at_shutdown_are_all_counted() {
        // Throttled at the last flush: no time to wait, every line is counted lost.
        let (mut sender, calls) = stub_sender(|_, _| Some("ThrottlingException"));
        sender.ready = true;
        pend(&mut sender, &[2, 1, 3]);
        sender.flush(true).await;
        assert_eq!((calls.puts(), dropped(&sender), sender.pending.len()), (vec![2], 6, 0));
    }

    #[test]
    fn rejected_events_are_counted_from_exclusive_ends_and_once() {
        use aws_sdk_cloudwatchlogs::types::RejectedLogEventsInfo;
        let info = |old: Option<i32>, expired: Option<i32>, new: Option<i32>| {
            RejectedLogEventsInfo::builder()
                .set_too_old_log_event_end_index(old)
                .set_expired_log_event_end_index(expired)
                .set_too_new_log_event_start_index(new)
                .build()
        };
        // Too old: events 0 and 1 (the end index is exclusive).
        assert_eq!(rejected(&info(Some(2), None, None), 10), 2);
        assert_eq!(rejected(&info(Some(0), None, None), 10), 0);
        // Too new: 7, 8 and 9 (the start index is inclusive).
        assert_eq!(rejected(&info(None, None, Some(7)), 10), 3);
        assert_eq!(rejected(&info(Some(2), None, Some(7)), 10), 5);
        // Expired, read like too old; the same events are not counted twice.
        assert_eq!(rejected(&info(None, Some(3), None), 10), 3);
        assert_eq!(rejected(&info(Some(2), Some(3), None), 10), 3);
        // Ranges that overlap, or pass the batch, count each event once at most.
        assert_eq!(rejected(&info(Some(6), None, Some(4)), 10), 10);
        assert_eq!(rejected(&info(Some(12), None, Some(-1)), 10), 10);
        assert_eq!(rejected(&info(None, None, None), 10), 0);
    }

    #[test]
    fn lines_held_for_a_retry_are_bounded_in_bytes_too() {
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
            .build();
        let mut sender = sender(Client::from_conf(config));
        let line = "x".repeat(100 - batch::EVENT_OVERHEAD);
        for _ in 0..25 {
            sender.push(LogEvent::new(0, line.clone()));
        }
        assert_eq!((sender.pending.len(), sender.pending_bytes), (10, 1000));
        assert_eq!(sender.shared.dropped.load(Ordering::Relaxed), 15);
    }

    #[test]
    fn stream_names_say_service_and_instance() {
        let name = stream_name("activities");
        assert!(name.starts_with("activities/"), "{name}");
        assert!(name.contains(&std::process::id().to_string()));
        assert!(!name.contains(':') && !name.contains('*'));
    }
}
