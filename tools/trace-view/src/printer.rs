//! One line on stdout per finished trace, with the link to its page:
//! `GET /api/activities/notifications  3 services  9 spans  4.2 ms  http://localhost:16686/trace/<id>`.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use crate::{SharedStore, trace::TraceSummary};

/// How often the store is asked for finished traces.
const TICK: Duration = Duration::from_millis(200);

pub fn line(summary: &TraceSummary, ui_base: &str) -> String {
    let plural = |n: usize, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    let error = if summary.error { "  ERROR" } else { "" };
    format!(
        "{}  {}  {}  {}{error}  {ui_base}/trace/{}",
        summary.root_name,
        plural(summary.services.len(), "service"),
        plural(summary.span_count, "span"),
        duration(summary.duration_nanos),
        summary.id
    )
}

/// Milliseconds with the digits that matter: `0.42 ms`, `4.2 ms`, `420 ms`, `4.20 s`.
pub fn duration(nanos: u64) -> String {
    let ms = nanos as f64 / 1e6;
    match ms {
        ms if ms < 1.0 => format!("{ms:.2} ms"),
        ms if ms < 100.0 => format!("{ms:.1} ms"),
        ms if ms < 1000.0 => format!("{ms:.0} ms"),
        ms => format!("{:.2} s", ms / 1000.0),
    }
}

/// Prints finished traces until the runtime stops.
pub async fn run(store: actix_web::web::Data<SharedStore>, quiet: Duration, ui_base: String) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let finished = store.lock().expect("the store lock is never poisoned").take_finished(Instant::now(), quiet);
        let mut stdout = std::io::stdout().lock();
        for summary in finished {
            // A closed stdout is no reason to stop receiving.
            let _ = writeln!(stdout, "{}", line(&summary, &ui_base));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceId;

    #[test]
    fn a_line_says_what_where_how_long_and_links_the_trace() {
        let mut summary = TraceSummary {
            id: TraceId([0xab; 16]),
            root_name: "GET /api/activities/notifications".into(),
            root_service: "activities".into(),
            root_received: true,
            services: vec!["activities".into(), "notifications".into(), "users".into()],
            span_count: 9,
            start_unix_nano: 0,
            duration_nanos: 4_213_000,
            error: false,
        };
        let id = "ab".repeat(16);
        assert_eq!(
            line(&summary, "http://localhost:16686"),
            format!(
                "GET /api/activities/notifications  3 services  9 spans  4.2 ms  http://localhost:16686/trace/{id}"
            )
        );
        summary.services.truncate(1);
        summary.span_count = 1;
        summary.error = true;
        assert!(line(&summary, "http://x").contains("  1 service  1 span  4.2 ms  ERROR  http://x/trace/"));
    }

    #[test]
    fn durations_keep_the_digits_that_matter() {
        assert_eq!(duration(420_000), "0.42 ms");
        assert_eq!(duration(4_213_000), "4.2 ms");
        assert_eq!(duration(420_400_000), "420 ms");
        assert_eq!(duration(4_200_000_000), "4.20 s");
    }
}
