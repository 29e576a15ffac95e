# The two commands in the README: `make run` brings the whole service up, `make test` runs lint and tests.
.PHONY: run test lint clean bootstrap bench mutation

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh $(ARGS)

lint: bootstrap
	.venv/bin/ruff check .

bootstrap:
	bash scripts/bootstrap.sh

# The benchmarks (bench/): each prints its figures beside a baseline measured in the same run (all but
# projection_write start their own Temporal dev server), at the sizes of the README's table (about 20
# minutes on 2 shared cores). Each script's --help gives its size options.
bench: bootstrap
	.venv/bin/python -m bench.lifecycle_throughput --cases 60 --concurrency 20 --repeats 3
	.venv/bin/python -m bench.history_growth --notes 60
	.venv/bin/python -m bench.action_latency --rounds 10 --per-round 20 --long-notes 60
	.venv/bin/python -m bench.list_latency --cases 10000 --timers 1500
	.venv/bin/python -m bench.projection_write
	.venv/bin/python -m bench.long_case
	.venv/bin/python -m bench.page_latency
	.venv/bin/python -m bench.scale_out --cases 40 --concurrency 10 --repeats 2

# Mutation testing of the pure rules in domain/ against the pure tests only ([tool.mutmut] in
# pyproject.toml). Results are cached in mutants/ (a rerun tests only what changed; `make clean`
# starts afresh). Prints the summary and every surviving mutant; `.venv/bin/mutmut show NAME` shows one.
mutation: bootstrap
	.venv/bin/mutmut run --max-children 2
	.venv/bin/mutmut results
	.venv/bin/mutmut export-cicd-stats
	@.venv/bin/python -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); \
	  t = s["total"] - s["skipped"]; score = 100 * (s["killed"] + s["timeout"]) / max(t, 1); \
	  print("mutation score: %.1f%% (%d killed, %d timed out, %d survived, %d without a test, of %d mutants)" \
	        % (score, s["killed"], s["timeout"], s["survived"], s["no_tests"], t))'

# Removes build and test leftovers. Keeps var/ (the service's data) and .venv.
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis mutants
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
