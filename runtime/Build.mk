# libweft: every object of the library, kernel style.
libweft-y += runtime/src/version.o

examples-y += runtime/examples/hello
