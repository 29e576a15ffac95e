# The two commands in the README: `make run` brings the whole service up, `make test` runs lint and tests.
.PHONY: run test lint clean bootstrap bench

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh $(ARGS)

lint: bootstrap
	.venv/bin/ruff check .

bootstrap:
	bash scripts/bootstrap.sh

# The benchmarks (bench/): each prints its figures beside a baseline measured in the same run (all but
# projection_write start their own Temporal dev server).
bench: bootstrap
	.venv/bin/python -m bench.action_latency
	.venv/bin/python -m bench.projection_write
	.venv/bin/python -m bench.list_latency
	.venv/bin/python -m bench.lifecycle_throughput
	.venv/bin/python -m bench.long_case
	.venv/bin/python -m bench.page_latency

# Removes build and test leftovers. Keeps var/ (the service's data) and .venv.
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
