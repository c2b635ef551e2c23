//! A CloudWatch Logs stand-in on a loopback port, for what moto cannot play
//! (it checks no permissions): each call is answered as the test says, by
//! its operation, and recorded.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
};

use serde_json::Value;

type Answer = dyn Fn(&str) -> Option<&'static str> + Send + Sync;

pub struct StubCloudWatch {
    pub endpoint: String,
    /// Operation (`PutLogEvents`, …) and JSON body of each call, in order.
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl StubCloudWatch {
    /// `answer(operation)`: `None` is success, `Some(code)` that AWS error,
    /// as CloudWatch sends it (HTTP 400, the code in the JSON body).
    pub fn start(answer: impl Fn(&str) -> Option<&'static str> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (seen, answer): (_, Arc<Answer>) = (calls.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (seen, answer) = (seen.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &seen, answer.as_ref()));
            }
        });
        Self { endpoint, calls }
    }

    pub fn operations(&self) -> Vec<String> {
        self.calls.lock().unwrap().iter().map(|(operation, _)| operation.clone()).collect()
    }

    /// The messages of every PutLogEvents call, parsed.
    pub fn shipped(&self) -> Vec<Value> {
        let calls = self.calls.lock().unwrap();
        let puts = calls.iter().filter(|(operation, _)| operation == "PutLogEvents");
        let events = puts.flat_map(|(_, body)| body["logEvents"].as_array().cloned().unwrap_or_default());
        events.filter_map(|event| serde_json::from_str(event["message"].as_str()?).ok()).collect()
    }
}

/// One request (headers, then `content-length` bytes of body), one answer.
fn serve(mut stream: TcpStream, calls: &Mutex<Vec<(String, Value)>>, answer: &Answer) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 65536];
    let (head, body) = loop {
        let Ok(n) = stream.read(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..n]);
        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
        let length = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0usize);
        if request.len() >= end + 4 + length {
            break (head, request[end + 4..end + 4 + length].to_vec());
        }
    };
    // `x-amz-target: Logs_20140328.PutLogEvents`, lowercased with the rest.
    let target = header(&head, "x-amz-target").unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or_default();
    let operation = ["CreateLogGroup", "CreateLogStream", "PutLogEvents", "PutRetentionPolicy"]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(operation))
        .unwrap_or("unknown");
    let code = answer(operation);
    calls.lock().unwrap().push((operation.to_owned(), serde_json::from_slice(&body).unwrap_or_default()));
    let (status, body) = match code {
        None => ("200 OK", "{}".to_owned()),
        Some(code) => ("400 Bad Request", format!(r#"{{"__type":"{code}","message":"refused by the stand-in"}}"#)),
    };
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}
