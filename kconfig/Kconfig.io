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

choice
	prompt "Default I/O driver"
	default WEFT_IO_DEFAULT_AUTO
	help
	  Which driver a runtime uses when the WEFT_IO environment variable
	  does not say (WEFT_IO=uring or WEFT_IO=epoll always wins).

config WEFT_IO_DEFAULT_AUTO
	bool "automatic"
	help
	  io_uring when the kernel allows it (io_uring_setup does not fail
	  with ENOSYS or EPERM, kernel.io_uring_disabled is 0), else epoll.

config WEFT_IO_DEFAULT_URING
	bool "io_uring"
	depends on WEFT_IO_URING
	help
	  Always io_uring: creating a runtime fails where it is unavailable.

config WEFT_IO_DEFAULT_EPOLL
	bool "epoll"
	depends on WEFT_IO_EPOLL
	help
	  Always epoll, even where io_uring works (containers that audit or
	  forbid io_uring, comparisons).

endchoice

endmenu
