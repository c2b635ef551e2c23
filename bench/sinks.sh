# shellcheck shell=bash
# shellcheck disable=SC2034  # the ports and arrays set here are the caller's to use
# Sourced by scripts/bench and scripts/link-order: loopback ports and the
# local sinks the exporters send to. Expects `pids` (an array the caller
# kills on exit); sets sink_port (OTLP/HTTP), xray_port (UDP) and logs_port
# (CloudWatch Logs' JSON API) and the AWS_XRAY_SAMPLING_RULES files
# every-request.json and tenth.json in $1, and the exporters' settings for
# them: the arrays otlp, cloudwatch, xray (every request sampled) and
# xray_tenth (10 %).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# start_sinks DIR: the sinks, started; returns when they answer.
start_sinks() {
  # An OTLP/HTTP sink that accepts every export (what a collector's receiver does).
  sink_port=$(free_port)
  python3 - "$sink_port" >/dev/null 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
  pids+=($!)
  # The X-Ray daemon's side of UDP: read and discard.
  xray_port=$(free_port)
  python3 - "$xray_port" >/dev/null 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recv(65536)
PY
  pids+=($!)
  printf '{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 1.0}}' >"$1/every-request.json"
  printf '{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 0.1}}' >"$1/tenth.json"
  # CloudWatch Logs as a far endpoint is to the services: every call succeeds
  # and costs this machine next to nothing. CreateLogGroup, CreateLogStream,
  # PutRetentionPolicy and PutLogEvents all answer an object whose fields
  # are optional. (moto, which the tests use to check the calls, parsed
  # and stored every line: a third of a core under seed load, taken from
  # the services on two cores.)
  logs_port=$(free_port)
  python3 - "$logs_port" >/dev/null 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Logs(BaseHTTPRequestHandler):
    # Keep-alive, as CloudWatch does; without Nagle, or the body, sent after
    # the headers, waits for the client's delayed ACK (40 ms a call).
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Logs).serve_forever()
PY
  pids+=($!)
  wait_port "$sink_port" && wait_port "$logs_port"
  otlp=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_HEADERS="x-honeycomb-team=bench"
    OTEL_TRACES_SAMPLER=always_on)
  cloudwatch=(CLOUDWATCH_LOG_GROUP=cruddur AWS_ENDPOINT_URL="http://127.0.0.1:$logs_port" AWS_REGION=us-east-1
    AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench)
  xray=(AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$xray_port" AWS_XRAY_SAMPLING_RULES="$1/every-request.json")
  xray_tenth=(AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$xray_port" AWS_XRAY_SAMPLING_RULES="$1/tenth.json")
}
