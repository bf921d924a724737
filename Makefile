# doorctl — every target sets itself up (a local .venv with pinned packages).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SIM_ARGS ?=
SOAK_MINUTES ?= 5

FIRMWARE ?= build/firmware/ESP32_GENERIC.bin
BOARD ?= esp32-devkitc
FLASH_SIZE ?=
PORT ?= /dev/ttyUSB0
IMAGE_ARGS ?=

.PHONY: sim test bench powercut soak setup clean image flash

setup: $(STAMP)

$(STAMP): host_tools/requirements.txt host_tools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r host_tools/requirements.txt
	$(BIN)/pip install -q --no-deps -e host_tools
	touch $@

## Run the real firmware in the MicroPython unix port on the `sim` board.
sim: $(STAMP)
	$(BIN)/doorctl sim run $(SIM_ARGS)

## The whole test suite (CPython and MicroPython).
test: $(STAMP)
	$(BIN)/python -m pytest -q tests

## Benchmarks; results also go to bench/results.json.
bench: $(STAMP)
	$(BIN)/python -m doorctl.bench

## Power cuts at random moments (table push, user edit, events, config change, start), counted;
## results to bench/powercut.json and README.md (docs/powercut.md). POWERCUT_ARGS="--seed 7" etc.
POWERCUT_ARGS ?=
powercut: $(STAMP)
	$(BIN)/python -m doorctl.powercut --trials 250 --out bench/powercut.json --readme $(POWERCUT_ARGS)

## Soak: every feature of each memory profile at once (lean: the standalone door), SOAK_MINUTES
## per profile (psram, then lean);
## figures to bench/soak.json and the README (exit 1 while a profile misses a requirement).
soak: $(STAMP)
	$(BIN)/python -m doorctl.soak --minutes $(SOAK_MINUTES) --update

## One flashable image (stock MicroPython + our filesystem): docs/build-and-flash.md
image: $(STAMP)
	$(BIN)/doorctl build --firmware $(FIRMWARE) --board $(BOARD) $(if $(FLASH_SIZE),--flash-size $(FLASH_SIZE)) -o build/door.bin $(IMAGE_ARGS)

## Write build/door.bin to a board over USB (esptool, verified)
flash: image
	$(BIN)/doorctl flash --port $(PORT) build/door.bin

clean:
	rm -rf $(VENV) .pytest_cache build
