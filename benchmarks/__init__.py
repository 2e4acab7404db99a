"""Benchmarks of the models, decoding, the data pipeline and chat start-up: `benchmarks/run.py`."""
