// SPDX-License-Identifier: MIT
/*
 * sym.c - symbolisation for weftstat.
 *
 * User addresses: libdw's Dwfl reports the target's modules from
 * /proc/PID/maps (load biases included, so PIE and ASLR need nothing
 * more); their files are opened inside the target's root (its mount
 * namespace) as the registry reader opens them, and their debug
 * information found in the file itself, then /usr/lib/debug by build-id
 * or by a debug link that names no path of the target's choosing. A function name comes from the symbol
 * table; the file and line from DWARF when the object has it.
 *
 * Kernel addresses: /proc/kallsyms, sorted, binary search. Without root
 * the kernel shows zeros there, and every address reads as unknown.
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse.h"
#include "sym.h"
#include "wfreg.h"

static Dwfl *dwfl;
static char *debuginfo_path;

/*
 * Open a file named by the target (its mappings, its debug links) without
 * trusting it: never blocking (a FIFO), regular files only. The fd, with
 * *name a copy of path, or -1.
 */
static int open_regular(const char *path, char **name)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	*name = strdup(path);
	return fd;
}

/*
 * Open a module's file the way the registry reader does: inside the
 * target's root (its mount namespace), checked against the mapping's
 * inode, else through /proc/PID/map_files. A library mapped since the
 * registry reader read the mappings is opened by name, as libdw would, but
 * never blocking and regular files only. Anything else ([vdso]) is
 * libdw's own business.
 */
static int find_elf_in_root(Dwfl_Module *mod, void **userdata, const char *modname,
			    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	if (modname && modname[0] == '/') {
		for (size_t i = 0; i < wfreg_nmaps; i++) {
			const struct wfreg_map *m = &wfreg_maps[i];
			int fd;

			if (!m->path || strcmp(m->path, modname))
				continue;
			fd = wfreg_open_mapped(m);
			if (fd < 0)
				break;
			*file_name = strdup(modname);
			return fd;
		}
		return open_regular(modname, file_name);
	}
	return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

/*
 * Separate debug information, in place of dwfl_standard_find_debuginfo,
 * which opens (and reads to the end, for its CRC) whatever path the
 * target's .gnu_debuglink names, relative to the module's directory: a
 * FIFO there hangs us, /dev/zero never ends. Here: by build-id under
 * /usr/lib/debug, then the debug link if it is a plain name (or a path
 * below /usr/lib/debug), under /usr/lib/debug and the module's directory;
 * regular files only, opened without blocking.
 */
static int find_debuginfo_safe(Dwfl_Module *mod, void **userdata, const char *modname,
			       Dwarf_Addr base, const char *file_name,
			       const char *debuglink_file, GElf_Word debuglink_crc,
			       char **debuginfo_file_name)
{
	const unsigned char *id;
	char path[PATH_MAX];
	GElf_Addr vaddr;
	const char *slash;
	int n, fd;

	n = dwfl_module_build_id(mod, &id, &vaddr);
	if (n > 0 && !ws_buildid_path(id, (size_t)n, path, sizeof(path))) {
		fd = open_regular(path, debuginfo_file_name);
		if (fd >= 0)
			return fd;
	}
	if (!debuglink_file || !ws_debuglink_safe(debuglink_file))
		return -1;
	if (debuglink_file[0] == '/')
		return open_regular(debuglink_file, debuginfo_file_name);
	slash = file_name && file_name[0] == '/' ? strrchr(file_name, '/') : NULL;
	if (!slash)
		return -1;
	n = snprintf(path, sizeof(path), WS_DEBUG_DIR "%.*s/%s", (int)(slash - file_name),
		     file_name, debuglink_file);
	if (n < 0 || (size_t)n >= sizeof(path) || !ws_debuglink_safe(path))
		return -1;
	return open_regular(path, debuginfo_file_name);
}

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = find_elf_in_root,
	.find_debuginfo = find_debuginfo_safe,
	.debuginfo_path = &debuginfo_path,
};

static int report(Dwfl *d, pid_t pid)
{
	int r;

	dwfl_report_begin(d);
	r = dwfl_linux_proc_report(d, pid);
	if (dwfl_report_end(d, NULL, NULL))
		return -EINVAL;
	/* > 0 is an errno from reading /proc/PID/maps. */
	return r > 0 ? -r : r < 0 ? -EINVAL : 0;
}

int sym_user_open(pid_t pid)
{
	int r;

	dwfl = dwfl_begin(&proc_callbacks);
	if (!dwfl)
		return -ENOMEM;
	r = report(dwfl, pid);
	if (r) {
		dwfl_end(dwfl);
		dwfl = NULL;
	}
	return r;
}

int sym_user_refresh(pid_t pid)
{
	Dwfl *d;
	int r;

	d = dwfl_begin(&proc_callbacks);
	if (!d)
		return -ENOMEM;
	r = report(d, pid);
	if (r) {
		dwfl_end(d);
		return r;
	}
	if (dwfl)
		dwfl_end(dwfl);
	dwfl = d;
	return 0;
}

void sym_user_close(void)
{
	if (dwfl)
		dwfl_end(dwfl);
	dwfl = NULL;
}

bool sym_user(uint64_t addr, struct sym *out)
{
	Dwfl_Module *mod;
	const char *name, *modname, *src, *base;
	GElf_Off off = 0;
	GElf_Sym s;
	Dwfl_Line *ln;
	int line = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->func, sizeof(out->func), "?");
	if (!dwfl)
		return false;
	mod = dwfl_addrmodule(dwfl, addr);
	if (!mod)
		return false;
	modname = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	if (modname) {
		base = strrchr(modname, '/');
		snprintf(out->module, sizeof(out->module), "%s", base ? base + 1 : modname);
	}
	name = dwfl_module_addrinfo(mod, addr, &off, &s, NULL, NULL, NULL);
	if (name) {
		ws_demangle_rust(name, out->func, sizeof(out->func));
		out->offset = off;
	}
	ln = dwfl_module_getsrc(mod, addr);
	if (ln) {
		src = dwfl_lineinfo(ln, NULL, &line, NULL, NULL, NULL);
		if (src) {
			snprintf(out->file, sizeof(out->file), "%s", src);
			out->line = line;
		}
	}
	return true;
}

bool sym_is_system(const struct sym *s)
{
	/* The sanitizers' runtimes too: their interceptors are never the culprit. */
	static const char *const sys[] = { "libc.so", "libc-", "ld-linux", "ld64.so",
					   "libpthread", "[vdso]", "linux-vdso", "libm.so",
					   "libasan.so", "libtsan.so", "libubsan.so", "liblsan.so",
					   "libhwasan.so" };

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (!strncmp(s->module, sys[i], strlen(sys[i])))
			return true;
	return false;
}

/* --- kernel ----------------------------------------------------------------- */

struct ksym {
	uint64_t addr;
	char *name;
};

static struct ksym *ksyms;
static size_t nksyms;

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int sym_kernel_open(void)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	size_t cap = 0;
	char line[512];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3 || !a)
			continue;
		if (type != 't' && type != 'T')
			continue;
		if (nksyms == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			struct ksym *n = realloc(ksyms, ncap * sizeof(*n));

			if (!n)
				break;
			ksyms = n;
			cap = ncap;
		}
		ksyms[nksyms].addr = a;
		ksyms[nksyms].name = strdup(name);
		if (!ksyms[nksyms].name)
			break;
		nksyms++;
	}
	fclose(f);
	qsort(ksyms, nksyms, sizeof(*ksyms), ksym_cmp);
	return nksyms ? 0 : -EPERM;
}

void sym_kernel_close(void)
{
	for (size_t i = 0; i < nksyms; i++)
		free(ksyms[i].name);
	free(ksyms);
	ksyms = NULL;
	nksyms = 0;
}

const char *sym_kernel(uint64_t addr)
{
	size_t lo = 0, hi = nksyms;

	if (!nksyms || addr < ksyms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ksyms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	return ksyms[lo].name;
}
