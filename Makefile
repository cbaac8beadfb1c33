# Rookery. `make run` starts a standalone server on conf/zoo.cfg; `make test` runs every test.
CARGO ?= cargo
CONFIG ?= conf/zoo.cfg

.PHONY: all build run test deps unit lint golden bench clean ensemble ensemble-stop

all: build

build:
	$(CARGO) build --release

run: build
	./target/release/rookery server $(CONFIG)

# A 3-server ensemble on this host from conf/ensemble/ (data and logs in data/ensemble/N);
# `./target/release/rookery status conf/ensemble/zoo1.cfg` shows it.
ensemble: build
	./scripts/ensemble.sh start

ensemble-stop:
	./scripts/ensemble.sh stop

# Installs the reference clients (Debian's ZooKeeper packages, kazoo in .venv) if missing.
deps:
	./scripts/deps.sh

test: deps
	$(CARGO) build --release
	$(CARGO) test --release

# Prints throughput, latency and group-commit figures (fsyncs/s, txns per fsync).
bench: build
	./scripts/bench.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Regenerates the golden-byte fixtures from the real ZooKeeper jars.
golden:
	./tests/golden/generate.sh

clean:
	$(CARGO) clean
	rm -rf .venv
