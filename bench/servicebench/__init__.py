"""The parts of bench/service_bench.py: workload, broker access, process
measurements, contenders, report."""
