menu "I/O"

config WEFT_IO_URING
	bool "io_uring driver"
	default y
	help
	  Drive sockets, files and timers through io_uring (liburing), one
	  ring per worker. Needs Linux 5.10 or later and an unrestricted
	  kernel.io_uring_disabled. Turning it off leaves only the epoll
	  driver and drops liburing from the link.

config WEFT_IO_EPOLL
	bool "epoll fallback driver"
	default y
	help
	  The fallback for kernels or containers where io_uring is missing
	  or forbidden. Files go through the blocking pool there. Costs a
	  few KiB of code.

endmenu
