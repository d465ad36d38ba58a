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
libweft-y += runtime/src/arch/switch_$(ARCH).o

examples-y += runtime/examples/hello
