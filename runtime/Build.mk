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
