"""A small Splight-style component: reads its id, works for a moment, logs, and ends."""
import argparse
import logging
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--component-id", required=True)
args = parser.parse_args()

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("component")

print(f"component {args.component_id} starting")
readings = []
for step in range(3):
    readings.append(20.0 + step * 0.5)
    log.info("reading %d: %.1f C", step, readings[-1])
    time.sleep(0.05)
try:
    1 / 0
except ZeroDivisionError:
    log.exception("a recoverable fault")
print(f"average {sum(readings) / len(readings):.2f} C")
sys.exit(3 if readings[-1] > 20.9 else 0)
