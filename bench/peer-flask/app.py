"""Benchmark peer: the week-2 Cruddur Flask backend's home feed, instrumented
the way the week-2 "Distributed Tracing" journal does it (OpenTelemetry to an
OTLP/HTTP endpoint such as Honeycomb, the AWS X-Ray SDK middleware, CloudWatch
Logs through watchtower).

Only two routes: GET /api/activities/home (week 2's mock data) and
GET /api/health-check. Every exporter is configured from the environment;
see README.md for the variables.
"""

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from time import strftime

from flask import Flask, request
from flask_cors import CORS

# Honeycomb / OpenTelemetry: the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT,
# OTEL_EXPORTER_OTLP_HEADERS and OTEL_SERVICE_NAME itself; OTEL_SDK_DISABLED=true
# makes the provider hand out no-op tracers.
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# X-Ray
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.sampling.local.sampler import LocalSampler
from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

# CloudWatch Logs
import boto3
import watchtower


def env(name):
    """The variable's value, or None when unset or blank."""
    value = os.getenv(name, "").strip()
    return value or None


# --- OpenTelemetry (journal: "Initialize tracing and an exporter that can send data to Honeycomb")
provider = TracerProvider()
# OTEL_TRACES_EXPORTER=none: spans are made but go nowhere (the bench's "sdk" run).
# The journal's code builds the exporter by hand, so the SDK would ignore this variable.
if (env("OTEL_TRACES_EXPORTER") or "otlp").lower() != "none":
    processor = BatchSpanProcessor(OTLPSpanExporter())
    provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer(__name__)


# --- services/home_activities.py of week 2
home_tracer = trace.get_tracer("home.activities")


class HomeActivities:
    @staticmethod
    def run():
        with home_tracer.start_as_current_span("home-activities-mock-data"):
            span = trace.get_current_span()
            now = datetime.now(timezone.utc).astimezone()
            span.set_attribute("app.now", now.isoformat())
            two_days_ago = (now - timedelta(days=2)).isoformat()
            results = [
                {
                    "uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee",
                    "handle": "Andrew Brown",
                    "message": "Cloud is fun!",
                    "created_at": two_days_ago,
                    "expires_at": (now + timedelta(days=5)).isoformat(),
                    "likes_count": 5,
                    "replies_count": 1,
                    "reposts_count": 0,
                    "replies": [
                        {
                            "uuid": "26e12864-1c26-5c3a-9658-97a10f8fea67",
                            "reply_to_activity_uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee",
                            "handle": "Worf",
                            "message": "This post has no honor!",
                            "likes_count": 0,
                            "replies_count": 0,
                            "reposts_count": 0,
                            "created_at": two_days_ago,
                        }
                    ],
                },
                {
                    "uuid": "66e12864-8c26-4c3a-9658-95a10f8fea67",
                    "handle": "Worf",
                    "message": "I am out of prune juice",
                    "created_at": (now - timedelta(days=7)).isoformat(),
                    "expires_at": (now + timedelta(days=9)).isoformat(),
                    "likes": 0,
                    "replies": [],
                },
                {
                    "uuid": "248959df-3079-4947-b847-9e0892d1bab4",
                    "handle": "Garek",
                    "message": "My dear doctor, I am just simple tailor",
                    "created_at": (now - timedelta(hours=1)).isoformat(),
                    "expires_at": (now + timedelta(hours=12)).isoformat(),
                    "likes": 0,
                    "replies": [],
                },
            ]
            span.set_attribute("app.result_length", len(results))
        return results


# --- CloudWatch Logs (journal: "Configuring Logger to Use CloudWatch")
# On when CLOUDWATCH_LOG_GROUP is set (the journal's group is 'cruddur'), as for
# the Rust services. boto3 takes AWS_ENDPOINT_URL and the credentials from the
# environment; for the region it reads only AWS_DEFAULT_REGION (the journal's
# note), so AWS_REGION, which the Rust services read, is passed on by hand.
LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.DEBUG)
console_handler = logging.StreamHandler()
LOGGER.addHandler(console_handler)
log_group = env("CLOUDWATCH_LOG_GROUP")
if log_group:
    logs_client = boto3.client("logs", region_name=env("AWS_DEFAULT_REGION") or env("AWS_REGION"))
    cw_handler = watchtower.CloudWatchLogHandler(log_group_name=log_group, boto3_client=logs_client)
    LOGGER.addHandler(cw_handler)


app = Flask(__name__)


# --- X-Ray (journal: "Adding the middleware to your application (flask)")
# On when AWS_XRAY_DAEMON_ADDRESS is set (the SDK sends segments there over
# UDP); AWS_XRAY_SDK_ENABLED=false turns the SDK off as usual.
def local_sampling_rules(path):
    """An X-Ray SDK local rules file ({"version": 2, ...}) as it is, or the
    {"SamplingRule": {...}} input of `aws xray create-sampling-rule` (the
    repository's xray.json) as one local rule before X-Ray's default rule."""
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    rule = document.get("SamplingRule")
    if rule is None:
        return document
    return {
        "version": 2,
        "rules": [
            {
                "description": rule["RuleName"],
                "host": rule["Host"],
                "http_method": rule["HTTPMethod"],
                "url_path": rule["URLPath"],
                "fixed_target": rule["ReservoirSize"],
                "rate": rule["FixedRate"],
            }
        ],
        "default": {"fixed_target": 1, "rate": 0.05},
    }


if env("AWS_XRAY_DAEMON_ADDRESS") and (env("AWS_XRAY_SDK_ENABLED") or "true").lower() != "false":
    xray_url = os.getenv("AWS_XRAY_URL")
    rules_path = env("AWS_XRAY_SAMPLING_RULES")
    if rules_path:
        # Only these rules, as the Rust services apply them: no polling of
        # the daemon for centralized rules.
        xray_recorder.configure(sampler=LocalSampler(local_sampling_rules(rules_path)))
    xray_recorder.configure(service="backend-flask", dynamic_naming=xray_url)
    XRayMiddleware(app, xray_recorder)

# OpenTelemetry's automatic instrumentation
FlaskInstrumentor().instrument_app(app)
RequestsInstrumentor().instrument()

frontend = os.getenv("FRONTEND_URL")
backend = os.getenv("BACKEND_URL")
origins = [origin for origin in (frontend, backend) if origin]
cors = CORS(
    app,
    resources={r"/api/*": {"origins": origins}},
    expose_headers="location,link",
    allow_headers="content-type,if-modified-since",
    methods="OPTIONS,GET,HEAD,POST",
)


@app.after_request
def after_request(response):
    timestamp = strftime("[%Y-%b-%d %H:%M]")
    LOGGER.error(
        "%s %s %s %s %s %s",
        timestamp,
        request.remote_addr,
        request.method,
        request.scheme,
        request.full_path,
        response.status,
    )
    return response


@app.route("/api/activities/home", methods=["GET"])
def data_home():
    data = HomeActivities.run()
    LOGGER.info("IAM Active Logger! from  /api/activities/home")
    return data, 200


@app.route("/api/health-check", methods=["GET"])
def health_check():
    return {"success": True, "ver": 1}, 200


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "4567")))
