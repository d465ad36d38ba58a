# libweft: every object of the library, kernel style.
libweft-y += runtime/src/version.o
libweft-y += runtime/src/runtime.o
libweft-y += runtime/src/sched.o
libweft-y += runtime/src/task.o
libweft-y += runtime/src/wait.o
libweft-y += runtime/src/timer.o
libweft-y += runtime/src/probes.o
libweft-y += runtime/src/metrics.o
libweft-y += runtime/src/registry.o
libweft-y += runtime/src/blocking.o
libweft-y += runtime/src/clock.o
libweft-y += runtime/src/monitor.o
libweft-y += runtime/src/arch/switch_$(ARCH).o

examples-y += runtime/examples/hello
examples-y += runtime/examples/stall_demo
examples-y += runtime/examples/echo
examples-y += runtime/examples/http
examples-y += runtime/examples/copy
libweft-y += runtime/src/metrics_dump.o
libweft-y += runtime/src/mutex.o
libweft-y += runtime/src/rwlock.o
libweft-y += runtime/src/sem.o
libweft-y += runtime/src/barrier.o
libweft-y += runtime/src/group.o
libweft-y += runtime/src/notify.o
libweft-y += runtime/src/chan.o
libweft-y += runtime/src/oneshot.o
libweft-y += runtime/src/broadcast.o
libweft-y += runtime/src/watch.o
libweft-y += runtime/src/select.o

# Spawning zeroes a task's control block (about 800 bytes) on a page that
# is usually cache-hot: plain vector stores beat `rep stos`, whose start-up
# cost dominated spawn on AMD EPYC (perf, chained_spawn). gcc on x86-64 only.
ifeq ($(ARCH),x86_64)
ifeq ($(shell $(CC) -v 2>&1 | grep -q '^gcc version' && echo y),y)
CFLAGS_task.o += -mmemset-strategy=vector_loop:4096:noalign,libcall:-1:noalign
endif
endif

# I/O: the public calls and driver choice (io.c), the drivers (docs/io.md).
libweft-y += runtime/src/io.o
libweft-y += runtime/src/io_batch.o
libweft-y += runtime/src/io_ms.o
libweft-$(CONFIG_WEFT_IO_URING) += runtime/src/io_uring.o
libweft-$(CONFIG_WEFT_IO_EPOLL) += runtime/src/io_epoll.o
libweft-libs-$(CONFIG_WEFT_IO_URING) += -luring

# The BPF stall source (CONFIG_WEFT_STALL_BPF, docs/stall.md): native
# x86-64 and aarch64 builds only, like weftstat (its program is built from
# this machine's BTF, bpf/Build.mk); a cross build leaves it out whatever
# the option says. libbpf, libelf and zlib then join LIBS, which every
# program linked here and weft.pc's Libs.private use; libbpf is linked
# dynamically (Debian's libbpf.a is not position-independent, so it cannot
# go into libweft.so). WF_STALL_BPF tells monitor.c the source is there.
stall-bpf-arch := $(if $(CROSS_COMPILE),,$(filter x86_64 aarch64,$(ARCH)))
stall-bpf-libs := -lbpf -lelf -lz
ifeq ($(CONFIG_WEFT_STALL_BPF),y)
ifneq ($(stall-bpf-arch),)
libweft-y += runtime/src/stall_bpf.o
libweft-libs-y += $(stall-bpf-libs)
CFLAGS_monitor.o += -DWF_STALL_BPF
endif
endif
CFLAGS_stall_bpf.o += -DWF_STALL_BPF -I$(obj)/bpf -I$(srctree)/bpf
$(obj)/runtime/src/stall_bpf.o $(obj)/lto/runtime/src/stall_bpf.o: $(obj)/bpf/stall.skel.h
