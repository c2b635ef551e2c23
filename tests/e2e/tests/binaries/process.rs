//! The service binaries as real processes, for what only a process shows:
//! commands, start-up errors, signals, and (later) exported telemetry.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

/// The path of `service`'s own binary (`target/debug/activities`, …), the
/// one `cargo run -p activities` and the Dockerfile build: this package does
/// not compile the services again under names of its own.
///
/// Cargo hands a test only its own package's binaries (`CARGO_BIN_EXE_*`),
/// so the first test that needs one asks cargo to build them, once per run.
/// The build names the whole workspace and this test target, as the test
/// command (`cargo test --workspace`) does: features are then resolved
/// exactly as they were for this test executable, with every member's
/// dev-dependencies (telemetry's turn on serde_json's `preserve_order` and
/// the AWS HTTP client's `test-util`), so every library is already fresh
/// and only the binaries are compiled. Naming the four packages alone
/// resolved fewer features and compiled a second copy of everything above
/// serde_json: 5.5 of CI's 28 minutes on a two-core machine. (Under
/// `cargo test -p e2e` it is the other way round, once: both copies then
/// stay in the target directory.) Cargo releases its build lock before it
/// runs the tests, so the nested build does not wait on the outer one.
pub fn binary(service: &str) -> &'static Path {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(build_services);
    built.get(service).unwrap_or_else(|| panic!("no service {service}"))
}

/// The three services, and the trace view they export to under `scripts/run`
/// (each a package with a binary of its name).
const BINARIES: [&str; 4] = ["activities", "users", "notifications", "trace-view"];

fn build_services() -> HashMap<String, PathBuf> {
    // <target dir>[/<triple>]/<profile dir>/deps/binaries-<hash>
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("a cargo target directory");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("{} is not in a cargo target directory", exe.display()),
    };
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--locked", "--message-format=json-render-diagnostics", "--profile", profile])
        // Every workspace binary is one of BINARIES.
        .args(["--workspace", "--bins", "--test", "binaries"])
        .stdout(Stdio::piped())
        // What cargo says (compiling, errors) goes where the test's output goes.
        .stderr(Stdio::inherit());
    // The same target directory as this build (cargo marks its root with
    // CACHEDIR.TAG), one level further up when built for an explicit --target.
    let above = profile_dir.parent().expect("a target directory");
    if above.join("CACHEDIR.TAG").exists() {
        command.arg("--target-dir").arg(above);
    } else if let Some(root) = above.parent().filter(|root| root.join("CACHEDIR.TAG").exists()) {
        command.arg("--target-dir").arg(root).arg("--target").arg(above.file_name().expect("a target triple"));
    }
    let output = command.output().expect("cargo runs");
    assert!(output.status.success(), "cargo could not build the services: {}", output.status);
    let mut built = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        if message["reason"] == "compiler-artifact"
            && BINARIES.contains(&name)
            && let Some(executable) = message["executable"].as_str()
        {
            built.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    assert_eq!(built.len(), BINARIES.len(), "cargo named no binary for some package: {built:?}");
    built
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
    /// While set, nobody reads the service's stdout (a stalled log pipe).
    stdout_held: Arc<AtomicBool>,
}

impl Service {
    /// Starts `service` on a random loopback port and waits until it listens.
    pub fn start(service: &str, env: &[(&str, &str)]) -> Self {
        Self::start_on(service, env, 0)
    }

    /// Starts `service` on loopback `port` (0: a random one) and waits until it listens.
    pub fn start_on(service: &str, env: &[(&str, &str)], port: u16) -> Self {
        let port = port.to_string();
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.extend([("PORT", port.as_str()), ("BIND_ADDRESS", "127.0.0.1")]);
        let mut child = command(service, &env).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let stdout_held = Arc::new(AtomicBool::new(false));
        let (lines, out, held) = (stdout.clone(), child.stdout.take().unwrap(), stdout_held.clone());
        thread::spawn(move || {
            let mut reader = BufReader::new(out).lines();
            loop {
                while held.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(10));
                }
                let Some(Ok(line)) = reader.next() else { break };
                if let Some(port) = listening_port(&line) {
                    port_tx.send(port).ok();
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
        Self { child, port, stdout, stderr, stdout_held }
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

    /// Stops reading stdout: once the pipe's buffer is full, the service's
    /// writes to stdout block.
    pub fn hold_stdout(&self) {
        self.stdout_held.store(true, Ordering::Relaxed);
    }

    pub fn release_stdout(&self) {
        self.stdout_held.store(false, Ordering::Relaxed);
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// The port of the `listening` line, in JSON (`"port":4568`) or, with
/// `LOG_FORMAT=human`, as `listening port=4568`.
fn listening_port(line: &str) -> Option<u16> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json["port"].as_u64().filter(|_| json["message"] == "listening").map(|port| port as u16);
    }
    let (_, fields) = line.split_once(" listening port=")?;
    fields.split(' ').next()?.parse().ok()
}

impl Drop for Service {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
