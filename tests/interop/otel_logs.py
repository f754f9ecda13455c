"""Exports log records to Vigil with the OpenTelemetry Python SDK's OTLP/HTTP exporter.

Usage: otel_logs.py ENDPOINT RUN_ID   (ENDPOINT like http://127.0.0.1:PORT/v1/logs)
Prints `trace_id=<hex> span_id=<hex>` of the span the records were logged in, and exits
non-zero when any export failed.
"""
import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

results = []


class CheckedExporter(OTLPLogExporter):
    """Remembers the result of every export."""

    def export(self, batch):
        result = super().export(batch)
        results.append(result)
        return result


def main():
    endpoint, run_id = sys.argv[1], sys.argv[2]
    resource = Resource.create(
        {
            "service.name": "interop-otel",
            "service.namespace": "vigil-tests",
            "deployment.environment": "ci",
            "host.name": "test-host",
            "run.id": run_id,
        }
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(CheckedExporter(endpoint=endpoint, timeout=10))
    )
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger("vigil.interop.otel")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)

    tracer = TracerProvider(resource=resource).get_tracer("vigil.interop")
    with tracer.start_as_current_span("checkout") as span:
        context = span.get_span_context()
        logger.warning("inventory low", extra={"sku": "A-17", "remaining": 3})
        logger.error("charge declined for order %s", "o-2")
    logger.info("outside any span")
    provider.shutdown()
    # The result enum was renamed across SDK versions; its member name is stable.
    failed = [r for r in results if r.name != "SUCCESS"]
    if len(results) != 3 or failed:
        print(f"exports: {results}", file=sys.stderr)
        sys.exit(1)
    print(f"trace_id={context.trace_id:032x} span_id={context.span_id:016x}")


if __name__ == "__main__":
    main()
