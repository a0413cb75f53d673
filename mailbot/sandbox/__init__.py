"""A private mail server and a fictional network, for the demo, the tests and the benchmarks."""
