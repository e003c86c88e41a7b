"""Prints what Beam's DataflowRunner prints after submitting, then waits like ``wait_until_finish``."""

from __future__ import annotations

import sys
import time

if __name__ == "__main__":
    job_name = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--job_name="))
    if "--fail" in sys.argv:
        print("ERROR: staging failed: 403 caller does not have storage.objects.create", flush=True)
        sys.exit(1)
    print("INFO apache_beam.runners.dataflow.internal.apiclient: Create job: <Job ...>", flush=True)
    print(f"INFO apache_beam.runners.dataflow.internal.apiclient: Created job with id: [{job_name}-id]", flush=True)
    time.sleep(120)
