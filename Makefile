# clvlake: the two commands are `make demo` and `make test`. Everything installs itself into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AS_OF  ?= 2026-01-01
CUSTOMERS ?= 10000
CONF   ?= conf/local.yml
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: install browser demo test test-fast test-cluster lint bench bench-comet bench-pipeline bench-btyd check-model check-real wheel cluster-up connect-up cluster-down clean clean-lake

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m clvlake.jars
	touch $(STAMP)

install: $(STAMP)

## browser: Debian's chromium for the report's browser test (once; skipped without root or sudo)
browser:
	@scripts/install_chromium.sh

## demo: install, generate $(CUSTOMERS) customers, run ingest → features → train → score → report, print the
## tier table and the path of the HTML report
demo: $(STAMP)
	$(BIN)/clv generate --conf $(CONF) --customers $(CUSTOMERS) --seed 42
	$(BIN)/clv pipeline --conf $(CONF) --as-of $(AS_OF)

## test: install and run the test suite (slow end-to-end tests included) in $(TEST_WORKERS) processes, one test
## file per process at a time (a file's module fixtures are built once); the cluster test is `make test-cluster`
test: $(STAMP) browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not cluster" $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow and not cluster" $(PYTEST_ARGS)

## test-cluster: the pipeline on a Spark standalone cluster (spark-submit, wheel, jars) equals local mode
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster $(PYTEST_ARGS)

## bench: Spark feature build vs DuckDB vs lifetimes at 1M and 10M order events → bench/results/ (BENCH_SIZES=1M,10M,100M)
BENCH_SIZES ?= 1M,10M
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python scripts/bench_features.py --sizes $(BENCH_SIZES)

## bench-comet: the feature benchmark on Spark 4.1 (its own venv, $(COMET_VENV)), plain and with Apache DataFusion
## Comet's native operators, DuckDB as the peer → bench/results/comet.* (BENCH_SIZES as for bench)
COMET_VENV ?= .venv-spark41
bench-comet:
	$(PYTHON) -m venv $(COMET_VENV)
	$(COMET_VENV)/bin/pip install --quiet 'pyspark==4.1.4' 'delta-spark==4.1.0' 'pyarrow>=15,<27' numpy pyyaml \
		'duckdb>=1.1,<2' 'psutil>=5.9,<8'
	$(COMET_VENV)/bin/pip install --quiet --no-deps -e .
	$(COMET_VENV)/bin/python scripts/bench_features.py --sizes $(BENCH_SIZES) --name comet \
		--engines spark,spark_comet,duckdb,duckdb_same_columns

## bench-pipeline: every stage as its own `clv` process at PIPELINE_SIZES customers (10k,100k,1M), then a next-day
## run, DuckDB's load-and-validate as ingest's peer → bench/results/pipeline.* (temp dirs under PIPELINE_WORK_DIR)
PIPELINE_SIZES ?= 10k
PIPELINE_WORK_DIR ?= /tmp/clvlake-bench-pipeline
bench-pipeline: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python scripts/bench_pipeline.py --sizes $(PIPELINE_SIZES) --work-dir $(PIPELINE_WORK_DIR)

## bench-btyd: BG/NBD + Gamma-Gamma fit (Spark collapse + scipy) vs lifetimes' fitters on BTYD_EVENTS order events → bench/results/btyd.*
BTYD_EVENTS ?= 10M
bench-btyd: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python scripts/bench_btyd.py --events $(BTYD_EVENTS)

## check-model: generate $(CHECK_CUSTOMERS) customers in a temp dir, train, compare with the generator's oracle → bench/results/model_quality.*
CHECK_CUSTOMERS ?= 20000
check-model: $(STAMP)
	$(BIN)/python scripts/check_model_quality.py --customers $(CHECK_CUSTOMERS)

## check-real: lifetimes' real CDNOW transactions through ingest and `clv backtest` → bench/results/real_data.*
check-real: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python scripts/check_real_data.py

lint: $(STAMP)
	$(BIN)/ruff check lib jobs scripts tests notebooks
	$(BIN)/ruff format --check lib jobs scripts tests notebooks

## wheel: the library as dist/clvlake-<version>-py3-none-any.whl (for --py-files and Databricks)
wheel: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps -w dist .

## cluster-up / cluster-down: a Spark standalone master and worker on 127.0.0.1 (spark://127.0.0.1:7077)
cluster-up: $(STAMP)
	PYTHON=$(BIN)/python scripts/local_cluster.sh start

## connect-up: a Spark Connect server with Delta in local mode, sized as conf/local.yml (sc://127.0.0.1:15002);
## cluster-down stops it
connect-up: $(STAMP)
	PYTHON=$(BIN)/python scripts/local_cluster.sh connect "local[*]" \
	  --conf spark.sql.shuffle.partitions=8 --conf spark.driver.memory=4g

cluster-down:
	scripts/local_cluster.sh stop

clean-lake:
	rm -rf lakehouse data

clean: clean-lake
	rm -rf $(VENV) $(COMET_VENV) build dist *.egg-info lib/*.egg-info
