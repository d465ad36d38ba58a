#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/fuzz/gen_corpus.py - writes the seed corpus of tests/fuzz/corpus/.

    tests/fuzz/gen_corpus.py [CORPUS_DIR]

Seeds are small, valid-looking inputs for each fuzz target (fuzz_NAME.c);
the reproducers of bugs the fuzzers found (files named crash-*, hang-*,
wrong-*) are written here too, so that they stay in the replay. The two
ELF seeds are tests/fuzz/reg64.elf and regpie.elf: a static and a
static-PIE executable with a weft_registry section, built once with
    gcc -nostdlib -static[-pie -fPIE] -Os -s
from a file holding `__attribute__((section("weft_registry"))) struct
{ char magic[8]; unsigned v; } __attribute__((aligned(64))) r;` and an
empty _start.
"""
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- maps ----------------------------------------------------------------------
put("maps", "seed-weft", """\
55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1311234                    /usr/bin/weft victim
55d0c0a02000-55d0c0a09000 r-xp 00002000 08:01 1311234                    /usr/bin/weft victim
55d0c0a0c000-55d0c0a0d000 rw-p 0000b000 08:01 1311234                    /usr/bin/weft victim
55d0c1c6e000-55d0c1c8f000 rw-p 00000000 00:00 0                          [heap]
7f5148600000-7f5148622000 r--p 00000000 08:01 2883724                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f5148622000-7f514879b000 r-xp 00022000 08:01 2883724                    /usr/lib/x86_64-linux-gnu/libc.so.6
7f51487f0000-7f51487f1000 rw-p 00000000 00:00 0 
7f5148800000-7f5148801000 r-xp 00000000 00:05 4242                       /memfd:jit (deleted)
7ffd2c5b7000-7ffd2c5d8000 rw-p 00000000 00:00 0                          [stack]
7ffd2c5f9000-7ffd2c5fb000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
""")
put("maps", "seed-edges", "1000-2000 r-xp 0 0:0 0\n2000-1000 rw-p 0 0:0 0 /x\n"
    "0-ffffffffffffffff rwxs ffffffffffffffff fff:fffff 18446744073709551615 /a b\\012c\n"
    "3000-4000 r--p 00000000 08:01 99 \n")

# --- elf -------------------------------------------------------------------------
for n in ("reg64.elf", "regpie.elf"):
    with open(os.path.join(here, n), "rb") as f:
        put("elf", "seed-" + n, f.read())


def elf32():
    """A 32-bit ET_DYN with one PT_LOAD and a weft_registry section."""
    shstr = b"\0weft_registry\0.shstrtab\0"
    ehsz, phsz, shsz = 52, 32, 40
    phoff = ehsz
    stroff = phoff + phsz
    shoff = (stroff + len(shstr) + 3) & ~3
    eh = b"\x7fELF\x01\x01\x01" + b"\0" * 9
    eh += struct.pack("<HHIIIIIHHHHHH", 3, 3, 1, 0, phoff, shoff, 0, ehsz, phsz, 1,
                      shsz, 3, 2)
    ph = struct.pack("<IIIIIIII", 1, 0, 0x1000, 0x1000, 0x200, 0x200, 6, 0x1000)
    sh0 = b"\0" * shsz
    sh1 = struct.pack("<IIIIIIIIII", 1, 1, 3, 0x1100, 0x100, 0x40, 0, 0, 64, 0)
    sh2 = struct.pack("<IIIIIIIIII", 15, 3, 0, 0, stroff, len(shstr), 0, 0, 1, 0)
    body = eh + ph + shstr
    body += b"\0" * (shoff - len(body))
    return body + sh0 + sh1 + sh2


e32 = elf32()
put("elf", "seed-elf32", e32)
# Extended numbering: e_shnum 0 and e_shstrndx SHN_XINDEX, the real ones in section 0.
x = bytearray(e32)
struct.pack_into("<HH", x, 48, 0, 0xffff)
shoff = struct.unpack_from("<I", x, 32)[0]
struct.pack_into("<II", x, shoff + 20, 3, 2)   # sh_size = 3 sections, sh_link = 2
put("elf", "seed-elf32-xnum", bytes(x))

# --- registry: a memory image at 0x10000, the root first ------------------------
BASE = 0x10000
MAGIC = b"WEFTREG\x01"


def root(runtimes, gen=1):
    r = MAGIC + struct.pack("<IIHHHHQQQQ", 1, 104, 64, 64, 56, 0, runtimes, gen, 1000000, 0)
    r += b"0.5.0".ljust(16, b"\0") + b"\0" * 32
    assert len(r) == 104
    return r


def runtime(rid, nxt, workers, n, name=b"weft-worker"):
    return struct.pack("<QQQIIQ", rid, nxt, workers, n, 0, 0) + name.ljust(16, b"\0")[:16]


def worker(seq, state, tid, idx, task_id=0, task_addr=0, polls=0, park=0):
    return struct.pack("<IIiiQQQQQQ", seq, state, tid, idx, task_id, 0, task_addr, polls,
                       park, 0)


def task(tid, file_addr, line, name):
    return struct.pack("<QQIIQ", tid, file_addr, line, 0, 0) + name.ljust(32, b"\0")[:32]


def image(parts):
    """parts: [(offset, bytes)] -> bytes."""
    size = max(o + len(b) for o, b in parts)
    m = bytearray(size)
    for o, b in parts:
        m[o:o + len(b)] = b
    return bytes(m)


rt, wk, tk, st = 0x80, 0x100, 0x200, 0x280
put("registry", "seed-two-workers", image([
    (0, root(BASE + rt)),
    (rt, runtime(1, 0, BASE + wk, 2)),
    (wk, worker(2, 1, 4242, 0, 9, BASE + tk, 100, BASE + 0x300)),
    (wk + 64, worker(4, 4, 4243, 1, 0, 0, 50, BASE + 0x304)),
    (tk, task(9, BASE + st, 174, b"sleeper")),
    (st, b"/src/weft/tests/tools/weftstat_victim.c\0"),
    (0x300, b"\0" * 8),
]))
# Two runtimes, the second's list pointing back at the first (a cycle).
put("registry", "seed-cycle", image([
    (0, root(BASE + rt)),
    (rt, runtime(1, BASE + 0xc0, BASE + wk, 1)),
    (0xc0, runtime(2, BASE + rt, BASE + wk, 1, b"other")),
    (wk, worker(0, 2, 7, 0)),
]))
# A spawn-site string running to the end of the image (no terminator), a
# task name of 32 bytes with no NUL.
put("registry", "seed-unterminated", image([
    (0, root(BASE + rt)),
    (rt, runtime(1, 0, BASE + wk, 1, b"x" * 16)),
    (wk, worker(0, 1, 11, 0, 5, BASE + tk)),
    (tk, task(5, BASE + st, 1, b"n" * 32)),
    (st, b"/never/ends" * 4),
]))
put("registry", "seed-bad-version", image([(0, MAGIC + struct.pack("<I", 2) + b"\0" * 92)]))

# hang: 64 runtimes of 4096 slots each, every slot "being written" (odd
# sequence count): 1000 retries each, 262 million reads per refresh before
# the walk had a budget (tools/lib/wfreg.c, SEQ_BUDGET, MAX_WALK_WORKERS).
parts = [(0, root(BASE + 0x80))]
for i in range(64):
    nxt = BASE + 0x80 + (i + 1) * 64 if i < 63 else 0
    parts.append((0x80 + i * 64, runtime(i + 1, nxt, BASE + 0x1080, 4096)))
parts.append((0x1080, worker(1, 1, 1, 0)))
put("registry", "hang-odd-seq-slots", image(parts))

# hang: 64 runtimes sharing 64 slots, 4096 workers in all, each polling a
# task whose spawn-site name runs 4 KiB without a terminator: every 0.1 s
# refresh embedded a 4 KiB name buffer per worker and filled it, ~17 MB
# touched and 4096 page-by-page string reads, before names were read only
# for the tasks shown, within a budget per walk (WFREG_NAME_BUDGET).
parts = [(0, root(BASE + 0x80))]
for i in range(64):
    nxt = BASE + 0x80 + (i + 1) * 64 if i < 63 else 0
    parts.append((0x80 + i * 64, runtime(i + 1, nxt, BASE + 0x1080, 64)))
for k in range(64):
    parts.append((0x1080 + k * 64, worker(2, 1, 100 + k, k, 7, BASE + 0x2080)))
parts.append((0x2080, task(7, BASE + 0x2100, 1, b"long")))
parts.append((0x2100, b"/n" * 2100))
put("registry", "hang-long-names", image(parts))

# --- proc --------------------------------------------------------------------------
put("proc", "seed-stat", "4242 (weft-worker-0) S 1 4242 4242 0 -1 4194368 100 0 0 0 5 3 "
    "0 0 20 0 3 0 123456 12345678 1234 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1\n")
put("proc", "seed-stat-paren", "77 (a) b) c) ) R 1 77 77\n")
put("proc", "seed-status", "Name:\tweft-worker-0\nUmask:\t0022\nState:\tS (sleeping)\n"
    "Tgid:\t4242\nNgid:\t0\nPid:\t4243\nPPid:\t1\n")
put("proc", "seed-comm", "tokio-runtime-w\n")
put("proc", "seed-timens", "monotonic           100          5\nboottime   -20  0\n")
# wrong: a garbage offset made wfreg_parse_timens overflow (UBSan: signed
# multiplication) instead of being ignored.
put("proc", "crash-timens-overflow", "monotonic 9223372036854775807 999999999\n")

# --- http ----------------------------------------------------------------------------
put("http", "seed-get", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept: */*\r\n\r\n")
put("http", "seed-head", "HEAD /metrics?x=1 HTTP/1.0\n\n")
put("http", "seed-post", "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
put("http", "seed-404", "GET /  HTTP/1.1\r\n\r\n")
put("http", "seed-bare", "GET\r\n\r\n")
# wrong: a NUL in the request line hid the end of the head from strstr():
# the server waited out its 2 s deadline and closed without an answer.
put("http", "wrong-nul-in-request", b"GET /metrics\0 HTTP/1.1\r\n\r\n")

# --- cmdline -------------------------------------------------------------------------
put("cmdline", "seed-numbers", b"4242\x005\x000.1\x0086400\x00-1\x001e9\x00nan\x00inf\x00"
    b"0x10\x00 12\x0099999999999999999999")
put("cmdline", "seed-listen", b"127.0.0.1:9464\x00[::1]:0\x000.0.0.0:65535\x00127.1:80\x00"
    b"[::1]9464\x00::1:80\x00host:80\x00127.0.0.1:-1\x00127.0.0.1:65536\x00:80\x00[]:1")
put("cmdline", "seed-sort", b"busy\x00b\x00polls\x00delay\x00offcpu\x00name\x00n\x00x\x00")

# --- symbols -------------------------------------------------------------------------
put("symbols", "seed-rust", "_ZN4core3fmt5write17h0123456789abcdefE")
put("symbols", "seed-rust-escapes",
    "_ZN73_$LT$alloc..vec..Vec$LT$T$C$A$GT$$u20$as$u20$core..ops..drop..Drop$GT$"
    "4drop17h1234567890abcdefE")
put("symbols", "seed-rust-llvm", "_ZN3foo3bar17hfedcba9876543210E.llvm.4242")
put("symbols", "seed-rust-bad", "_ZN999999999999999999999999999a17h0123456789abcdefE")
# Rust v0 names: a trait impl with backreferences, generic arguments of
# every kind of type and constant, a closure, a suffix.
put("symbols", "seed-rust-v0-impl",
    "_RNvXs0_Cs1234_7mycrateINtB5_3FooRShENtNtCs5678_4core3fmt5Debug3fmt")
put("symbols", "seed-rust-v0-generics",
    "_RINvCs1234_7mycrate3fooTmbEAhj4_FKCmEuDNtB2_3BarEL_Kanf_Kb1_Kc41_pE"
    "Cs5678_3app.llvm.1")
put("symbols", "seed-rust-v0-closure", "_RNCNCNvMs_NtCs1234_7mycrate3netNtB8_4Conn4read00Ba_")
put("symbols", "seed-c", "planted_block")
put("symbols", "seed-debuglink", "weftstat_victim.debug")
put("symbols", "seed-debugaltlink", "/usr/lib/debug/.dwz/x86_64-linux-gnu/libweft.debug")
# wrong: libdw's standard lookup opened whatever .gnu_debuglink named,
# relative to the module's directory, and read it to the end for its CRC:
# a FIFO hung weftstat, /dev/zero never ended (sym.c, find_debuginfo_safe).
put("symbols", "wrong-debuglink-escape", "../../../../dev/zero")
# wrong: a symbol name with a newline (symbol tables hold any byte but NUL)
# was printed as it is in --folded output: one frame became two lines, the
# second a stack with a count of the target's choosing.
put("symbols", "wrong-folded-newline", "innocent\nmain;evil 999999999")
put("symbols", "seed-buildid", bytes.fromhex("0123456789abcdef0123456789abcdef01234567"))
put("symbols", "seed-bytes", b"a\"b\\c\nd\te\x01\x7f\xc3\xa9\xff\xe2\x82")
# A symbolizer reply (parse.h, struct ws_sym_reply): magic, seq 7, status 1,
# line 69, offset 0x1c, then func[128], file[256], module[128]; 536 bytes, so
# the reply to an address (fuzz_symbols.c: the size chooses the request).
put("symbols", "seed-sym-reply",
    struct.pack("<IIiiQ", 0x77737931, 7, 1, 69, 0x1c)
    + b"planted_block".ljust(128, b"\0") + b"weftstat_victim.c".ljust(256, b"\0")
    + b"weftstat_victim".ljust(128, b"\0"))
