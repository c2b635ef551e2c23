//! X-Ray segments from the three services as processes, received by a UDP
//! stand-in for the daemon, and fed to moto's X-Ray API as the daemon would.

use std::{
    collections::{BTreeSet, HashMap},
    net::UdpSocket,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    moto::Moto,
    otlp::{Receiver, servers},
    stack::{Stack, start_stack, trace_id_of},
};

/// Every trace, at once (a local rules file: no rules, default 100 %).
pub(crate) const ALWAYS: &str = r#"{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 1.0}}"#;
/// No trace, ever, unless a caller decided otherwise.
const NEVER: &str = r#"{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 0.0}}"#;

/// Listens where the X-Ray daemon would and keeps every datagram.
struct Daemon {
    address: String,
    datagrams: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Daemon {
    fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap().to_string();
        let datagrams = Arc::new(Mutex::new(Vec::new()));
        let kept = datagrams.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            while let Ok((length, _)) = socket.recv_from(&mut buffer) {
                kept.lock().unwrap().push(buffer[..length].to_vec());
            }
        });
        Self { address, datagrams }
    }

    /// Every document received so far; each datagram must be the protocol's
    /// header line and one JSON document.
    fn documents(&self) -> Vec<Value> {
        self.datagrams
            .lock()
            .unwrap()
            .iter()
            .map(|datagram| {
                let text = std::str::from_utf8(datagram).expect("UTF-8");
                let (header, body) = text.split_once('\n').expect("a header line");
                assert_eq!(header, r#"{"format": "json", "version": 1}"#);
                serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {body}"))
            })
            .collect()
    }

    async fn wait_for(&self, trace: &str, done: impl Fn(&Trace) -> bool) -> Trace {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let trace = Trace::of(self.documents(), trace);
            if done(&trace) {
                return trace;
            }
            assert!(Instant::now() < deadline, "X-Ray trace incomplete: {:#?}", trace.documents);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `4bf9…` → `1-4bf92f35-77b3…`
fn xray_id(trace_id: &str) -> String {
    format!("1-{}-{}", &trace_id[..8], &trace_id[8..])
}

/// One X-Ray trace: its documents, and every segment and subsegment in them
/// by id, with the name of the segment it belongs to.
struct Trace {
    documents: Vec<Value>,
    nodes: HashMap<String, (Value, String)>,
}

impl Trace {
    fn of(documents: Vec<Value>, trace: &str) -> Self {
        let documents: Vec<Value> = documents.into_iter().filter(|d| d["trace_id"] == trace).collect();
        let mut parent_of: HashMap<String, String> = HashMap::new();
        let mut flat: Vec<Value> = Vec::new();
        fn walk(node: &Value, flat: &mut Vec<Value>, parent_of: &mut HashMap<String, String>) {
            flat.push(node.clone());
            for child in node["subsegments"].as_array().into_iter().flatten() {
                parent_of.insert(child["id"].as_str().unwrap().to_owned(), node["id"].as_str().unwrap().to_owned());
                walk(child, flat, parent_of);
            }
        }
        for document in &documents {
            if document["type"] == "subsegment" {
                let (id, parent) = (document["id"].as_str().unwrap(), document["parent_id"].as_str().unwrap());
                parent_of.insert(id.to_owned(), parent.to_owned());
            }
            walk(document, &mut flat, &mut parent_of);
        }
        let segment_names: HashMap<String, String> = flat
            .iter()
            .filter(|n| documents.iter().any(|d| d["id"] == n["id"] && d.get("type").is_none()))
            .map(|n| (n["id"].as_str().unwrap().to_owned(), n["name"].as_str().unwrap().to_owned()))
            .collect();
        let owner = |mut id: String| {
            for _ in 0..64 {
                if let Some(name) = segment_names.get(&id) {
                    return name.clone();
                }
                match parent_of.get(&id) {
                    Some(parent) => id = parent.clone(),
                    None => break,
                }
            }
            String::new()
        };
        let nodes = flat
            .into_iter()
            .map(|n| (n["id"].as_str().unwrap().to_owned(), n.clone()))
            .map(|(id, n)| (id.clone(), (n, owner(id))))
            .collect();
        Self { documents, nodes }
    }

    fn segments(&self, name: &str) -> Vec<&Value> {
        self.documents.iter().filter(|d| d.get("type").is_none() && d["name"] == name).collect()
    }

    /// Subsegments (nested or sent on their own) of the segment named `owner`.
    fn subsegments_of(&self, owner: &str) -> Vec<&Value> {
        self.nodes.values().filter(|(n, o)| o == owner && !self.segments(owner).contains(&n)).map(|(n, _)| n).collect()
    }
}

pub(crate) fn rules_file(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

fn start_with_xray(
    receiver: &Receiver,
    daemon: &Daemon,
    rules: Option<&tempfile::NamedTempFile>,
    extra: &[(&str, &str)],
) -> Stack {
    let mut env = vec![("AWS_XRAY_DAEMON_ADDRESS", daemon.address.as_str())];
    if let Some(rules) = rules {
        env.push(("AWS_XRAY_SAMPLING_RULES", rules.path().to_str().unwrap()));
    }
    env.extend_from_slice(extra);
    start_stack(&receiver.endpoint, &env)
}

/// SIGTERM to every service and wait: everything is flushed when they exit.
pub(crate) fn stop(mut stack: Stack) {
    for service in [&stack.activities, &stack.notifications, &stack.users] {
        service.signal("TERM");
    }
    for service in [&mut stack.activities, &mut stack.notifications, &mut stack.users] {
        assert!(service.wait(Duration::from_secs(20)).success());
    }
}

#[tokio::test]
async fn notifications_are_one_x_ray_trace_across_three_services_and_moto_takes_it() {
    let (receiver, daemon, rules) = (Receiver::start(), Daemon::start(), rules_file(ALWAYS));
    let mut stack = start_with_xray(&receiver, &daemon, Some(&rules), &[("AWS_XRAY_URL", "*4567-abc.ws.gitpod.io*")]);
    let client = reqwest::Client::new();
    let response = client
        .get(stack.activities.url("/api/activities/notifications"))
        .header("host", "4567-abc.ws.gitpod.io")
        .header("user-agent", "cruddur-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let trace_id = xray_id(&trace_id_of(&response));
    let edge_name = "4567-abc.ws.gitpod.io";
    let trace = daemon
        .wait_for(&trace_id, |t| {
            t.segments(edge_name).len() == 1 && t.segments("notifications").len() == 1 && t.segments("users").len() == 2
        })
        .await;

    // The edge: named by dynamic naming, the root, with the request and the user.
    let edge = trace.segments(edge_name)[0];
    assert_eq!(edge.get("parent_id"), None);
    assert_eq!(edge["http"]["request"]["method"], "GET");
    assert!(edge["http"]["request"]["url"].as_str().unwrap().ends_with("/api/activities/notifications"));
    assert_eq!(edge["http"]["request"]["user_agent"], "cruddur-test/1.0");
    assert_eq!(edge["http"]["response"]["status"], 200);
    assert_eq!(edge["annotations"]["user_handle"], "andrewbrown");
    assert_eq!(edge["annotations"]["user_id"], contracts::seed::ANDREWBROWN.to_string());
    assert_eq!(edge["user"], "andrewbrown");
    assert!(edge.get("error").is_none() && edge.get("fault").is_none());

    // Below the edge, each segment's parent is a remote HTTP subsegment of its caller.
    for (callee, caller) in [("notifications", edge_name), ("users", edge_name), ("users", "notifications")] {
        let under_caller: Vec<_> = trace
            .segments(callee)
            .into_iter()
            .filter(|s| {
                trace.nodes.get(s["parent_id"].as_str().unwrap_or("")).is_some_and(|(_, owner)| owner == caller)
            })
            .collect();
        assert_eq!(under_caller.len(), 1, "{callee} under {caller}: {:#?}", trace.documents);
        let (call, _) = &trace.nodes[under_caller[0]["parent_id"].as_str().unwrap()];
        assert_eq!(call["namespace"], "remote");
        assert_eq!(call["name"], "127.0.0.1");
        assert_eq!(call["http"]["request"]["method"], "GET");
        assert_eq!(call["http"]["response"]["status"], 200);
        assert!(call["http"]["request"]["url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    }
    // Database calls: remote subsegments with the sql block.
    for service in ["notifications", "users"] {
        let sql: Vec<_> = trace.subsegments_of(service).into_iter().filter(|s| s.get("sql").is_some()).collect();
        assert!(!sql.is_empty(), "{service}: {:#?}", trace.documents);
        for subsegment in sql {
            assert_eq!(subsegment["namespace"], "remote");
            assert_eq!(subsegment["name"], "sqlite");
            assert_eq!(subsegment["sql"]["database_type"], "sqlite");
            assert!(subsegment["sql"]["sanitized_query"].as_str().unwrap().starts_with("SELECT"));
        }
    }

    // moto's X-Ray API takes the documents as the daemon would send them and
    // gives them back as one trace with all three services.
    let moto = Moto::start();
    let documents: Vec<String> = trace.documents.iter().map(Value::to_string).collect();
    let put = moto.xray("TraceSegments", serde_json::json!({ "TraceSegmentDocuments": documents })).await;
    assert_eq!(put["UnprocessedTraceSegments"], serde_json::json!([]), "{put}");
    let got = moto.xray("Traces", serde_json::json!({ "TraceIds": [trace_id] })).await;
    let traces = got["Traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{got}");
    assert_eq!(traces[0]["Id"], trace_id.as_str());
    let names: BTreeSet<String> = traces[0]["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_str::<Value>(s["Document"].as_str().unwrap()).unwrap())
        .filter(|d| d.get("type").is_none())
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, BTreeSet::from([edge_name.to_owned(), "notifications".into(), "users".into()]));

    // 4xx is an error; a dependency that is down is a fault with its cause.
    let response = client.get(stack.activities.url("/api/activities/@nobody")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let trace_id = xray_id(&trace_id_of(&response));
    let trace = daemon.wait_for(&trace_id, |t| t.segments("activities").len() == 1).await;
    let segment = trace.segments("activities")[0];
    assert_eq!((segment["error"].as_bool(), segment.get("fault")), (Some(true), None));
    assert_eq!(segment["http"]["response"]["status"], 404);

    stack.users.signal("KILL");
    let _ = stack.users.wait(Duration::from_secs(10));
    let response = client.get(stack.activities.url("/api/activities/home")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let trace_id = xray_id(&trace_id_of(&response));
    let trace =
        daemon.wait_for(&trace_id, |t| t.subsegments_of("activities").iter().any(|s| s.get("cause").is_some())).await;
    assert_eq!(trace.segments("activities")[0]["fault"], true);
    let call = trace.subsegments_of("activities").into_iter().find(|s| s.get("cause").is_some()).unwrap();
    assert_eq!(call["fault"], true);
    assert_eq!(call["namespace"], "remote");
    assert!(call["cause"]["exceptions"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{call}");
}

#[tokio::test]
async fn the_xray_json_rule_samples_the_reservoir_and_a_tenth_of_the_rest_as_whole_traces() {
    let (receiver, daemon) = (Receiver::start(), Daemon::start());
    // The X-Ray header alone carries the decision between the services.
    let stack = start_with_xray(&receiver, &daemon, None, &[("OTEL_PROPAGATORS", "xray")]);
    let client = reqwest::Client::new();
    let home = stack.activities.url("/api/activities/home");

    // A caller that decided "no" is obeyed, even with the reservoir full.
    let unsampled = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    let response = client.get(&home).header("x-amzn-trace-id", unsampled).send().await.unwrap();
    assert_eq!(response.status(), 200);

    const BURST: usize = 200;
    let started = Instant::now();
    let mut traces = Vec::with_capacity(BURST);
    for _ in 0..BURST {
        let response = client.get(&home).send().await.unwrap();
        assert_eq!(response.status(), 200);
        traces.push(xray_id(&trace_id_of(&response)));
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    // Honeycomb keeps receiving every trace.
    let deadline = Instant::now() + Duration::from_secs(20);
    while servers(&receiver.spans(), "activities").len() < BURST + 1 {
        assert!(Instant::now() < deadline, "OTLP did not get every trace");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(stack);

    let documents = daemon.documents();
    let with_segment = |service: &str| -> BTreeSet<String> {
        documents
            .iter()
            // Requests only: start-up work (migrations, seed) makes root segments too.
            .filter(|d| d.get("type").is_none() && d["name"] == service && d.get("http").is_some())
            .map(|d| d["trace_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let sampled = with_segment("activities");
    assert!(!sampled.contains("1-5759e988-bd862e3fe1be46a994272793"), "Sampled=0 was not obeyed");
    assert!(sampled.iter().all(|t| traces.contains(t)), "{sampled:?}");
    // 5 a second from the reservoir, then 10 % of the rest (mean ~20 of 200;
    // the bounds are more than four standard deviations wide).
    let rest = BURST - 5;
    assert!(sampled.len() >= 5 + 3, "{} sampled of {BURST}", sampled.len());
    assert!(sampled.len() <= 5 * seconds + rest / 10 + 25, "{} sampled of {BURST} in {seconds} s", sampled.len());
    // Whole traces: users has a segment for exactly the traces the edge sampled.
    assert_eq!(with_segment("users"), sampled, "downstream followed the edge's decision");
}

#[tokio::test]
async fn an_inbound_decision_to_sample_is_honoured_by_every_service() {
    let (receiver, daemon, rules) = (Receiver::start(), Daemon::start(), rules_file(NEVER));
    let stack = start_with_xray(&receiver, &daemon, Some(&rules), &[]);
    let client = reqwest::Client::new();
    let home = stack.activities.url("/api/activities/home");

    let plain = xray_id(&trace_id_of(&client.get(&home).send().await.unwrap()));
    let by_xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let response = client.get(&home).header("x-amzn-trace-id", by_xray).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .get(&home)
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .header("tracestate", "xray=1,vendor=opaque")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stop(stack);

    let documents = daemon.documents();
    for (trace, parent) in [
        ("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8"),
        ("1-4bf92f35-77b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    ] {
        let trace = Trace::of(documents.clone(), trace);
        let edge = trace.segments("activities");
        assert_eq!(edge.len(), 1, "{:#?}", trace.documents);
        assert_eq!(edge[0]["parent_id"], parent, "continues the caller's segment");
        assert_eq!(trace.segments("users").len(), 1, "and every service below follows");
    }
    assert!(Trace::of(documents, &plain).documents.is_empty(), "the rules (never) decided this one");
}

/// An ALB or API Gateway sends `Root` alone: the trace goes on under that id
/// with the edge as its root, in OTLP and in X-Ray, and `Sampled` is obeyed.
#[tokio::test]
async fn a_load_balancers_root_only_header_continues_the_trace_with_the_edge_as_root() {
    let (receiver, daemon, rules) = (Receiver::start(), Daemon::start(), rules_file(NEVER));
    let stack = start_with_xray(&receiver, &daemon, Some(&rules), &[]);
    let client = reqwest::Client::new();
    let home = stack.activities.url("/api/activities/home");
    let (sampled, unsampled, undecided) =
        ("5759e988bd862e3fe1be46a994272793", "5759e988bd862e3fe1be46a994272794", "5759e988bd862e3fe1be46a994272795");
    for (trace, header) in [
        (sampled, format!("Self=1-67891233-abcdef012345678912345678;Root={}", xray_id(sampled)) + ";Sampled=1"),
        (unsampled, format!("Root={};Sampled=0", xray_id(unsampled))),
        (undecided, format!("Root={}", xray_id(undecided))),
    ] {
        let response = client.get(&home).header("x-amzn-trace-id", &header).send().await.unwrap();
        assert_eq!(response.status(), 200, "{header}");
        assert_eq!(trace_id_of(&response), trace, "{header}: the load balancer's trace id goes on");
    }

    // OTLP keeps all three, each with the edge's server span as its root.
    for trace in [sampled, unsampled, undecided] {
        let spans = receiver
            .wait_for_trace(trace, |spans| {
                !servers(spans, "users").is_empty() && !servers(spans, "activities").is_empty()
            })
            .await;
        let edge = servers(&spans, "activities");
        assert_eq!(edge.len(), 1);
        assert_eq!(edge[0].parent_span_id(), "", "{trace}: the edge is the root span");
    }
    stop(stack);

    // X-Ray: the sampled one as a root segment (no parent_id) with users below;
    // Sampled=0 and the rules (never) for the undecided one leave nothing.
    let documents = daemon.documents();
    let trace = Trace::of(documents.clone(), &xray_id(sampled));
    let edge = trace.segments("activities");
    assert_eq!(edge.len(), 1, "{:#?}", trace.documents);
    assert!(edge[0].get("parent_id").is_none(), "a root segment: {:#?}", edge[0]);
    assert_eq!(trace.segments("users").len(), 1);
    for trace in [unsampled, undecided] {
        assert!(Trace::of(documents.clone(), &xray_id(trace)).documents.is_empty(), "{trace}");
    }
}

/// As the X-Ray SDKs answer a request: `X-Amzn-Trace-Id: Root=<trace id>`,
/// and `;Sampled=<decision>` only when the caller asked with `Sampled=?`
/// (a load balancer that leaves the decision to the service learns it so).
/// A browser may read it; without X-Ray propagation it is not sent.
#[tokio::test]
async fn responses_carry_x_amzn_trace_id_with_the_decision_when_asked() {
    // Home is sampled, anything else not: the answer shows the rules' decision.
    let rules = rules_file(
        r#"{"version": 2, "default": {"fixed_target": 0, "rate": 0.0}, "rules": [
            {"host": "*", "http_method": "GET", "url_path": "/api/activities/home", "fixed_target": 0, "rate": 1.0}]}"#,
    );
    let (receiver, daemon) = (Receiver::start(), Daemon::start());
    let stack = start_with_xray(&receiver, &daemon, Some(&rules), &[]);
    let client = reqwest::Client::new();
    let header = |response: &reqwest::Response| {
        response.headers().get("x-amzn-trace-id").map(|value| value.to_str().unwrap().to_owned())
    };
    let (home, other) = (stack.activities.url("/api/activities/home"), stack.activities.url("/api/activities/@nobody"));

    // No header in: the root of the trace this service started, no decision.
    let response = client.get(&home).header("origin", "http://localhost:3000").send().await.unwrap();
    assert_eq!(header(&response), Some(format!("Root={}", xray_id(&trace_id_of(&response)))));
    let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("x-amzn-trace-id"), "a browser may read it: {exposed}");

    let root = "Root=1-5759e988-bd862e3fe1be46a994272793";
    for (url, request, answer) in [
        (&home, format!("{root};Parent=53995c3f42cd8ad8;Sampled=?"), format!("{root};Sampled=1")),
        (&other, format!("{root};Sampled=?"), format!("{root};Sampled=0")),
        // Decided by the caller, or not asked: the root alone.
        (&other, format!("{root};Parent=53995c3f42cd8ad8;Sampled=1"), root.to_owned()),
        (&home, format!("{root};Parent=53995c3f42cd8ad8"), root.to_owned()),
    ] {
        let response = client.get(url).header("x-amzn-trace-id", &request).send().await.unwrap();
        assert_eq!(header(&response).as_deref(), Some(answer.as_str()), "{url} {request}");
    }
    stop(stack);

    // X-Ray propagation off: no X-Ray header (the W3C one still).
    let data = tempfile::tempdir().unwrap();
    let env = [("CRUDDUR_DATA_DIR", data.path().to_str().unwrap()), ("OTEL_PROPAGATORS", "tracecontext,baggage")];
    let activities = crate::process::Service::start("activities", &env);
    let response = client.get(activities.url("/api/health-check")).send().await.unwrap();
    assert!(response.headers().contains_key("traceresponse"));
    assert_eq!(header(&response), None);
}
