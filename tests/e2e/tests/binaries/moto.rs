//! moto's server (the AWS API emulator), started on a loopback port for one
//! test and stopped with it. `scripts/test` installs it (`moto[server]`).

use std::{
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server on PATH (pip install 'moto[server]'; scripts/test does)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// A CloudWatch Logs client of the test's own, talking to this moto.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::for_tests())
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(config)
    }
}

impl Moto {
    /// One call of the X-Ray REST API (`TraceSegments`, `Traces`, …) with its
    /// JSON answer. moto checks no signature; the region comes from the
    /// credential scope.
    pub async fn xray(&self, operation: &str, body: serde_json::Value) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(format!("{}/{operation}", self.endpoint))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20261123/us-east-1/xray/aws4_request, SignedHeaders=host, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{operation}: {}", response.status());
        response.json().await.unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
