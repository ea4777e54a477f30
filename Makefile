# Set-up and everyday commands for ast-emu (Debian bookworm; run as root or with sudo).
#   make run                   build and boot the project's own image on the console
#   make run FLASH=image.mtd   ... or another image
#   make test                  build and run every test
#   make container             build the container image localhost/ast-emu (podman;
#                              CONTAINER=docker for Docker), see README.md "Container"
.PHONY: all deps unicorn build run test container clean systemd-image

# Debian packages the build needs: cmake (libunicorn), libclang (bindgen), pkg-config,
# libslirp + glib (user-mode networking), and for the tests curl, ssh and sshpass,
# xz-utils (tests compress images), patch; the firmware-fixture tools (reproducing the
# image; device-tree-compiler, flex and bison for firmware-fixtures/board-image, which builds
# dtbs with the kernel's make from linux-source-6.1) and qemu-system-arm (the fixture also
# boots on the reference model, and scripts/bench-guest compares against it);
# binutils-arm-none-eabi assembles the bare-metal guests of crates/bench-guests (benchmarks and
# the --elf tests); gdb-multiarch drives the GDB stub test; python3 runs the Python client's
# tests (python/tests, through tests/python_client.rs); podman and runc build and run the
# container image (tests/container.rs, tests/kube.rs), python3-yaml reads its Kubernetes
# manifests (tests/kube.rs); chromium, chromium-driver and python3-selenium test
# the rack's dashboard in a real browser (tests/rack.rs).
DEB_PACKAGES := cmake libclang-dev pkg-config xz-utils patch libslirp-dev libglib2.0-dev \
    curl openssh-client sshpass iproute2 iputils-ping \
    u-boot-tools squashfs-tools mtd-utils cpio linux-source-6.1 device-tree-compiler flex bison \
    qemu-system-arm gdb-multiarch python3 python3-yaml \
    podman runc binutils-arm-none-eabi e2fsprogs debootstrap openssl \
    chromium chromium-driver python3-selenium
CARGO ?= cargo
FLASH ?=
CONTAINER ?= podman

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

unicorn: deps
	scripts/build-unicorn

build: unicorn
	$(CARGO) build --release -p ast-emu

run: build
	./target/release/ast-emu $(if $(FLASH),--flash "$(FLASH)",)

# The systemd eMMC image (issue 19): built once, cached in /var/tmp/ast-emu-systemd.
systemd-image: build
	firmware-fixtures/systemd/build

test: unicorn systemd-image
	$(CARGO) test --release --workspace --no-fail-fast

container: build
	CONTAINER="$(CONTAINER)" scripts/container-image

clean:
	$(CARGO) clean
