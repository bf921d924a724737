"""Stock MicroPython builds: which one a board needs, which one a firmware file is.

micropython.org publishes one build per board id and variant, as
`<BOARD>[-<VARIANT>]-<date>-<version>.bin` (ESP32_GENERIC-20250911-v1.26.1.bin,
ESP32_GENERIC_S3-SPIRAM_OCT-20250911-v1.26.1.bin). A board file names the one it runs as
`"micropython": "ESP32_GENERIC_S3-SPIRAM_OCT"` (without it: the generic build for its chip and
profile, `default_build`).

What a firmware file tells about itself: the ESP image header names the chip (checked by
firmware_image); the app description's project is "micropython" for every build; the variant
shows only in MicroPython's machine string, `MICROPY_HW_BOARD_NAME " with " MICROPY_HW_MCU_NAME`
(firmware_image.read_machine), which each variant sets: "Generic ESP32 module" (ESP32_GENERIC, no
PSRAM support), "Generic ESP32 module with SPIRAM" (ESP32_GENERIC-SPIRAM), "Generic ESP32S3
module" (ESP32_GENERIC_S3: finds quad PSRAM, not octal), "Generic ESP32S3 module with
Octal-SPIRAM" (ESP32_GENERIC_S3-SPIRAM_OCT). Other builds (vendor boards, custom builds) are
judged by their board name ("SPIRAM"/"PSRAM", "Octal"), or not at all.

PSRAM kinds: "none", "quad", "octal"; "spiram" = some PSRAM support, kind unknown; None = can't
tell. A psram-profile board given a build that can't use its PSRAM would run in the ~112 KB
heap of a WROOM: `check` refuses it.
"""
import re
from collections import namedtuple

DOWNLOAD_PAGE = "https://micropython.org/download/%s/"

# the stock builds doorctl's boards use: id -> (chip, PSRAM kind it drives)
BUILDS = {
    "ESP32_GENERIC": ("esp32", "none"),
    "ESP32_GENERIC-SPIRAM": ("esp32", "quad"),
    "ESP32_GENERIC_S3": ("esp32s3", "quad"),
    "ESP32_GENERIC_S3-SPIRAM_OCT": ("esp32s3", "octal"),
}
# MICROPY_HW_BOARD_NAME of those builds (and ESP32_GENERIC-OTA) -> PSRAM kind
KNOWN_NAMES = {
    "Generic ESP32 module": "none",
    "Generic ESP32 module with OTA": "none",
    "Generic ESP32 module with SPIRAM": "quad",
    "Generic ESP32S3 module": "quad",
    "Generic ESP32S3 module with Octal-SPIRAM": "octal",
}
PSRAM_WORDS = {"none": "no PSRAM support", "quad": "quad-SPI PSRAM", "octal": "octal PSRAM",
               "spiram": "PSRAM support"}
_BUILD_ID = re.compile(r"[A-Z0-9_]+(-[A-Z0-9_]+)?\Z")


class StockError(ValueError):
    """A board's `micropython` field is not a build id; the message says so."""


Build = namedtuple("Build", "machine board_name mcu psram")


def identify(machine):
    """What a firmware's machine string says: Build(machine, board name, MCU, PSRAM kind or None)."""
    if not machine:
        return Build(None, None, None, None)
    name, _sep, mcu = machine.rpartition(" with ")
    psram = KNOWN_NAMES.get(name)
    if psram is None:
        low = name.lower()
        if "oct" in low and ("spiram" in low or "psram" in low):
            psram = "octal"
        elif "spiram" in low or "psram" in low:
            psram = "spiram"
    return Build(machine, name, mcu, psram)


def default_build(chip, profile="lean"):
    """The generic stock build for a chip and memory profile (psram: the reference modules'
    PSRAM, quad on the ESP32-WROVER, octal on the ESP32-S3 N8R8/N16R8)."""
    base = "ESP32_GENERIC" if chip == "esp32" else "ESP32_GENERIC_" + chip[len("esp32"):].upper()
    if profile == "psram":
        base += {"esp32": "-SPIRAM", "esp32s3": "-SPIRAM_OCT"}.get(chip, "")
    return base


def check_build_id(text, where="micropython"):
    if not isinstance(text, str) or not _BUILD_ID.match(text):
        raise StockError("%s: must be a micropython.org board id with its variant, like ESP32_GENERIC-SPIRAM, "
                         "got %r" % (where, text))
    return text


def board_build(spec, chip):
    """The stock build (id) a board runs on `chip`: its `micropython` field when that build is for
    this chip (or unknown to doorctl), else the generic build for chip and profile."""
    named = spec.get("micropython")
    if named is not None:
        check_build_id(named, "board %s: micropython" % spec.get("name", "?"))
        if BUILDS.get(named, (chip,))[0] == chip:
            return named
    return default_build(chip, spec.get("profile", "lean"))


def split_id(build_id):
    """'ESP32_GENERIC_S3-SPIRAM_OCT' -> ('ESP32_GENERIC_S3', 'SPIRAM_OCT'); no variant -> (id, None)."""
    board, _sep, variant = build_id.partition("-")
    return board, variant or None


def file_pattern(build_id, version=None):
    """The published file name with the date left open: ESP32_GENERIC-SPIRAM-*-v1.26.1.bin."""
    if version and re.match(r"v?\d+\.\d+\.\d+\Z", version):
        return "%s-*-v%s.bin" % (build_id, version.lstrip("v"))
    return "%s-*.bin" % build_id


def file_matches(filename, build_id, version):
    """Is `filename` this build's release file (micropython.org's name, or mpflash's without the date)?"""
    want = r"%s-(?:\d{8}-)?v%s\.bin\Z" % (re.escape(build_id), re.escape(version.lstrip("v")))
    return re.match(want, filename) is not None


def where_to_get(build_id, version=None):
    return "%s from %s" % (file_pattern(build_id, version), DOWNLOAD_PAGE % split_id(build_id)[0])


def check(fw_name, build, spec, chip, version=None):
    """Does a firmware (its Build) suit a board? -> (errors, warnings), each a list of one-line texts.

    Only the PSRAM support is judged (the chip is checked from the image header before): a
    psram-profile board refuses a build that can't use its PSRAM, or its kind of PSRAM; a lean
    board is warned about a PSRAM build when it names a build without."""
    errors, warnings = [], []
    want_id = board_build(spec, chip)
    need = BUILDS.get(want_id, (chip, None))[1]
    have = build.psram
    says = " (%s)" % build.machine if build.machine else ""
    board = spec.get("name", "?")
    fetch = "download " + where_to_get(want_id, version)
    if spec.get("profile", "lean") == "psram":
        if have is None:
            warnings.append("can't tell whether firmware %s%s supports PSRAM (no MicroPython board name of a known "
                            "build in it); board %s needs %s" % (fw_name, says, board, want_id))
        elif have == "none":
            errors.append("firmware %s is a build without PSRAM support%s, board %s has the psram profile and would "
                          "run without its PSRAM: %s" % (fw_name, says, board, fetch))
        elif need in ("quad", "octal") and have in ("quad", "octal") and have != need:
            errors.append("firmware %s is a build for %s%s, board %s has %s, which that build does not find: %s"
                          % (fw_name, PSRAM_WORDS[have], says, board, PSRAM_WORDS[need], fetch))
        elif need in ("quad", "octal") and have == "spiram":
            warnings.append("firmware %s%s supports PSRAM, but doorctl can't tell which kind; board %s has %s (%s)"
                            % (fw_name, says, board, PSRAM_WORDS[need], want_id))
    elif need == "none" and have in ("quad", "octal", "spiram"):
        warnings.append("firmware %s is a PSRAM build%s, board %s is lean (no PSRAM): it runs, but %s is its build"
                        % (fw_name, says, board, want_id))
    return errors, warnings
