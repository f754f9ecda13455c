"""Pushes log records to Vigil through python-logging-loki's LokiHandler (a real Loki client).

Usage: loki_handler.py BASE_URL RUN_ID
Exits non-zero when the handler reports any failed push (the handler itself only prints).
"""
import logging
import sys

import logging_loki

failures = []


class StrictLokiHandler(logging_loki.LokiHandler):
    """Remembers failed pushes instead of only printing them."""

    def handleError(self, record):  # noqa: N802 (logging's name)
        failures.append(sys.exc_info()[1])
        super().handleError(record)


def main():
    base_url, run_id = sys.argv[1], sys.argv[2]
    handler = StrictLokiHandler(
        url=f"{base_url}/loki/api/v1/push",
        tags={"application": "interop-loki", "run": run_id},
        version="1",
    )
    logger = logging.getLogger("vigil.interop")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.info("checkout started for order %s", "o-1")
    logger.warning("payment slow: %d ms", 2500)
    logger.error("payment failed", extra={"tags": {"service": "payments"}})
    logger.debug("cache hit ratio 0.93")
    handler.close()
    if failures:
        print(f"{len(failures)} pushes failed: {failures}", file=sys.stderr)
        sys.exit(1)
    print("sent 4")


if __name__ == "__main__":
    main()
