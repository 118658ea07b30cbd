# Two commands for a fresh machine: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
ANSIBLE_VENV := bench/.ansible-venv
APT_PACKAGES := docker.io docker-registry openssh-server openssh-client busybox-static \
	apache2-utils iproute2 procps chromium chromium-driver
SYSTEM_BINARIES := dockerd docker-registry sshd ssh busybox htpasswd ip ps chromium chromedriver

.PHONY: demo test bench bench-fleet lint format system venv lab lab-down

demo: venv lab
	bash examples/lab/demo.sh

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -p no:cacheprovider --durations=30 $(PYTEST_ARGS)

bench: venv lab $(ANSIBLE_VENV)/bin/ansible-playbook
	$(BIN)/python -m bench

# The bench's Ansible contender, apart from the project's dependencies: PyPI's `ansible` bundles
# community.docker (ansible-galaxy would need the internet).
$(ANSIBLE_VENV)/bin/ansible-playbook: bench/ansible/requirements.txt
	uv venv -q --allow-existing --python $(BIN)/python $(ANSIBLE_VENV)
	uv pip install -q --python $(ANSIBLE_VENV)/bin/python -r bench/ansible/requirements.txt
	touch $@

# The fleet bench: 1, 2, 4 and 8 isolated VMs (vm3..vm10), a Prefect server, two process workers.
bench-fleet: venv lab
	$(BIN)/dockyard lab up --vms 10
	$(BIN)/python -m bench.fleet

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

system:
	@missing=""; for b in $(SYSTEM_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages (missing:$$missing)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@# the lab's proxy image is Debian's caddy, fetched by `apt-get download` at `lab up`
	@apt-cache show caddy >/dev/null 2>&1 || apt-get update -qq

venv: system
	@command -v uv >/dev/null || python3 -m pip install -q uv
	uv sync --frozen --extra dev -q --compile-bytecode  # no .pyc: every CLI start compiles Prefect (+1.7 s)
	$(BIN)/python -m compileall -q dockyard tasks flows deployments

lab: venv
	$(BIN)/dockyard lab up

lab-down:
	$(BIN)/dockyard lab down
