#!/usr/bin/env python3
"""A real OTLP/HTTP trace receiver for tests/otlp.rs.

Listens on loopback, takes POST /v1/traces (protobuf), decodes each body with the
official `opentelemetry-proto` package and appends one JSON line per request to OUT:
the path, the request headers, the resource attributes and every span (trace id, span
id, parent, name, kind, times, attributes, status, event names). The line is written and
flushed before the answer goes out, so once the sender has its answer the line is there.

Prints `port N` on stdout once it listens. Stops by itself after LIFETIME seconds.

    python3 tests/otlp/receiver.py OUT [LIFETIME]

Needs: pip install opentelemetry-proto protobuf
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

try:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
except ImportError as err:  # the Rust test shows this and fails
    print(
        f"missing the opentelemetry-proto Python package ({err}); "
        "install it with: python3 -m pip install opentelemetry-proto protobuf",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)

MAX_BODY = 64 * 1024 * 1024


def any_value(value):
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def decode(body):
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    resources = []
    spans = []
    for resource_spans in request.resource_spans:
        resources.append(attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "attributes": attributes(span.attributes),
                        "status": {
                            "code": span.status.code,
                            "message": span.status.message,
                        },
                        "events": [event.name for event in span.events],
                        "scope": scope_spans.scope.name,
                    }
                )
    return resources, spans


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length)
        try:
            resources, spans = decode(body)
        except Exception as err:  # a body that is not a trace request
            self.server.write({"path": self.path, "error": str(err)})
            self.send_error(400)
            return
        self.server.write(
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "resources": resources,
                "spans": spans,
            }
        )
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args):
        pass


class Receiver(HTTPServer):
    def __init__(self, out):
        super().__init__(("127.0.0.1", 0), Handler)
        self.out = out
        self.lock = threading.Lock()

    def write(self, record):
        with self.lock:
            with open(self.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()


def main():
    out = sys.argv[1]
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
    server = Receiver(out)
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
