# Rookery. `make run` starts a standalone server on conf/zoo.cfg; `make test` runs every test.
CARGO ?= cargo
CONFIG ?= conf/zoo.cfg

# `make install`: PREFIX and DESTDIR as usual (packagers: PREFIX=/usr DESTDIR=pkgroot). The units
# go where systemd looks for them under PREFIX (/usr/local/lib/systemd/system is on its path);
# the configuration goes to /etc/rookery whatever PREFIX is, because the units read it there.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/rookery
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= /etc

.PHONY: all build run test deps unit lint golden bench clean ensemble ensemble-stop install

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

# Apache ZooKeeper 3.8 and Rookery side by side (standalone and 3 servers, alternating runs):
# one table of figures with Rookery/ZooKeeper ratios, saved under target/bench/. Knobs:
# BENCH_SECONDS, BENCH_ROUNDS, BENCH_SCALE=0, BENCH_SCALE_ZK=1, BENCH_ONLY=rookery (see the script).
bench: deps build
	python3 scripts/bench.py

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Installs the binary, the systemd units (ExecStart pointed at $(BINDIR)), the sysusers.d entry,
# the zkServer.sh wrapper and an example configuration; /etc/rookery/zoo.cfg only if absent.
install: build
	install -D -m 755 target/release/rookery $(DESTDIR)$(BINDIR)/rookery
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/bin
	sed 's|^ExecStart=/usr/bin/rookery|ExecStart=$(BINDIR)/rookery|' conf/rookery.service > $(DESTDIR)$(UNITDIR)/rookery.service
	sed 's|^ExecStart=/usr/bin/rookery|ExecStart=$(BINDIR)/rookery|' conf/rookery@.service > $(DESTDIR)$(UNITDIR)/rookery@.service
	chmod 644 $(DESTDIR)$(UNITDIR)/rookery.service $(DESTDIR)$(UNITDIR)/rookery@.service
	install -D -m 644 conf/rookery.sysusers $(DESTDIR)$(SYSUSERSDIR)/rookery.conf
	install -m 755 bin/zkServer.sh $(DESTDIR)$(DATADIR)/bin/zkServer.sh
	install -m 644 conf/zoo.cfg.example $(DESTDIR)$(DATADIR)/zoo.cfg.example
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/rookery/zoo.cfg ]; then \
	  echo "$(DESTDIR)$(SYSCONFDIR)/rookery/zoo.cfg exists: kept (the example is $(DATADIR)/zoo.cfg.example)"; \
	else \
	  install -D -m 644 conf/zoo.cfg.example $(DESTDIR)$(SYSCONFDIR)/rookery/zoo.cfg; \
	  echo "installed $(DESTDIR)$(SYSCONFDIR)/rookery/zoo.cfg"; \
	fi

# Regenerates the golden-byte fixtures from the real ZooKeeper jars.
golden:
	./tests/golden/generate.sh

clean:
	$(CARGO) clean
	rm -rf .venv
