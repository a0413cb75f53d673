"""Time-driven work: the scheduler, the digest and the Master List jobs."""
