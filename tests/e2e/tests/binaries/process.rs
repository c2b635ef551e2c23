//! The service binaries as real processes, for what only a process shows:
//! commands, start-up errors, signals, and (later) exported telemetry.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::Duration,
};

pub fn binary(service: &str) -> &'static str {
    match service {
        "activities" => env!("CARGO_BIN_EXE_e2e-activities"),
        "users" => env!("CARGO_BIN_EXE_e2e-users"),
        "notifications" => env!("CARGO_BIN_EXE_e2e-notifications"),
        other => panic!("no service {other}"),
    }
}

/// Runs `service args…` to completion with exactly `env` (plus PATH).
pub fn run(service: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let output = command(service, env).args(args).output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn command(service: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary(service));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command.envs(env.iter().copied());
    command
}

/// A running service; its stdout lines are collected as they come.
pub struct Service {
    child: Child,
    pub port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Service {
    /// Starts `service` on a random loopback port and waits until it listens.
    pub fn start(service: &str, env: &[(&str, &str)]) -> Self {
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.extend([("PORT", "0"), ("BIND_ADDRESS", "127.0.0.1")]);
        let mut child = command(service, &env).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let (lines, out) = (stdout.clone(), child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
                    && json["message"] == "listening"
                {
                    port_tx.send(json["port"].as_u64().unwrap() as u16).ok();
                }
                lines.lock().unwrap().push(line);
            }
        });
        let (text, mut err) = (stderr.clone(), child.stderr.take().unwrap());
        thread::spawn(move || {
            let mut buffer = String::new();
            err.read_to_string(&mut buffer).ok();
            text.lock().unwrap().push_str(&buffer);
        });
        let port = port_rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("{service} did not start: {}", stderr.lock().unwrap());
        });
        Self { child, port, stdout, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (at most `limit`).
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "still running after {limit:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
