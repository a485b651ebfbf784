# The two commands of the README. Both install missing system packages first.
#   make run    build (release) and run `tracehound all-in-one` on the embedded RocksDB store
#   make test   run the whole test suite
# A build cache outside the clone makes repeated builds on the same machine fast.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tracehound-target

.PHONY: run test deps

run: deps
	cargo run --release -- all-in-one $(ARGS)

test: deps
	cargo test

deps:
	@./scripts/install-deps.sh
