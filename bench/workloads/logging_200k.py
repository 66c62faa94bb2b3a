"""200,000 logging.info() calls through the program's own basicConfig handler (stderr goes to a file)."""
import logging

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("bench")
for i in range(200_000):
    log.info("event %d handled", i)
