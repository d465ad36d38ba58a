// SPDX-License-Identifier: MIT
/*
 * wfreg - find and read the trace registry of another process, from
 * outside (docs/registry.md). Shared by weft-registry and weftstat.
 *
 *   1. /proc/PID/maps lists the mapped files; each is opened through
 *      /proc/PID/root (the target's mount namespace) and its ELF section
 *      headers are searched for the section "weft_registry" (strip keeps
 *      section headers); the load bias from the mappings turns the
 *      section's address into the root's address in the target.
 *   2. Without such a section (or when asked), the target's writable
 *      mappings are scanned for the magic at 64-byte alignment (bounded).
 *   3. The root, the runtime list and the worker slots are read with
 *      process_vm_readv(); slots under their sequence count.
 * The target's files and memory are untrusted input: every size, count,
 * offset and address is checked, every loop is bounded.
 */

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <weft/registry.h>

#include "wfreg.h"

#define MAX_MAPS 65536			/* /proc/PID/maps lines considered */
#define MAX_SECTIONS 65536		/* section headers per file */
#define MAX_PHDRS 4096			/* program headers per file */
#define MAX_SHSTRTAB (16u << 20)	/* section name table */
#define MAX_FILES 4096			/* distinct mapped files examined */
#define MAX_REGISTRIES 16		/* libweft copies reported */
#define MAX_WORKERS 4096		/* worker slots per runtime */
#define MAX_STRUCT 4096			/* largest size field accepted */
#define SEQ_TRIES 1000			/* sequence-count retries per slot */
#define SEQ_BUDGET 16384		/* retries per walk, all slots together */
#define MAX_WALK_WORKERS 4096		/* worker slots per walk, all runtimes together */
#define WALK_TRIES 8			/* retries when the runtime list changed */
#define SCAN_CHUNK (1u << 20)
#define SCAN_PER_MAP (256ull << 20)
#define SCAN_TOTAL (1ull << 30)

const char *wfreg_prog = "weft-registry";
bool wfreg_verbose;
bool wfreg_soft_gone;

static pid_t pid;
static long page_size;

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!wfreg_verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", wfreg_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void wfreg_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", wfreg_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

void __attribute__((noreturn)) wfreg_die_perm(const char *what)
{
	wfreg_die(WFREG_EXIT_USAGE,
	    "cannot read %s of process %d: permission denied.\n"
	    "  Run as root (or with CAP_SYS_PTRACE), or as the process's own user with\n"
	    "  ptrace allowed (sysctl kernel.yama.ptrace_scope=0; a non-dumpable or setuid\n"
	    "  process can only be read by root)",
	    what, (int)pid);
}

void __attribute__((noreturn)) wfreg_die_gone(void)
{
	wfreg_die(WFREG_EXIT_USAGE, "no such process: %d (it exited?)", (int)pid);
}

/* --- target memory ---------------------------------------------------------------- */

/*
 * Read len bytes at the target's addr. 0, -EFAULT (unmapped), or dies;
 * with wfreg_soft_gone, a target that is gone returns -ESRCH instead.
 */
int (*wfreg_read_hook)(uint64_t addr, void *buf, size_t len);

int wfreg_remote_read(uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r;
	ssize_t n;

	if (addr > UINTPTR_MAX || len > UINTPTR_MAX - addr)
		return -EFAULT;
	if (wfreg_read_hook)
		return wfreg_read_hook(addr, buf, len);
	r.iov_base = (void *)(uintptr_t)addr;
	r.iov_len = len;
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n < 0) {
		if (errno == EPERM || errno == EACCES)
			wfreg_die_perm("the memory");
		if (errno == ESRCH && wfreg_soft_gone)
			return -ESRCH;
		if (errno == ESRCH)
			wfreg_die_gone();
		return -EFAULT;
	}
	return (size_t)n == len ? 0 : -EFAULT;
}

/* A NUL-terminated string at addr (page by page, at most cap - 1 bytes). */
int wfreg_remote_str(uint64_t addr, char *out, size_t cap)
{
	size_t got = 0;

	if (!cap)
		return -EINVAL;
	out[0] = '\0';
	if (!addr)
		return -EFAULT;
	if (page_size <= 0)
		page_size = 4096;
	while (got + 1 < cap) {
		uint64_t a = addr + got;
		size_t room = (size_t)page_size - (size_t)(a % (uint64_t)page_size);
		size_t n = cap - 1 - got < room ? cap - 1 - got : room;
		char *z;

		if (a < addr || wfreg_remote_read(a, out + got, n))
			break;
		z = memchr(out + got, '\0', n);
		if (z)
			return 0;
		got += n;
	}
	out[got] = '\0';
	return got ? 0 : -EFAULT;
}

/* --- /proc/PID/maps ----------------------------------------------------------------- */


struct wfreg_map *wfreg_maps;
size_t wfreg_nmaps;

/*
 * One line of /proc/PID/maps: "start-end perms offset maj:min inode path".
 * Fills m (m->path malloc'd, NULL for an anonymous mapping): 0, -EINVAL
 * for a line that does not parse (or an empty range), -ENOMEM.
 */
int wfreg_parse_maps_line(const char *line, struct wfreg_map *m)
{
	unsigned long long s, e, o, ino;
	unsigned maj, min;
	char perms[8];
	int pos = 0;
	const char *p;
	size_t n;

	memset(m, 0, sizeof(*m));
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e, perms, &o, &maj, &min,
		   &ino, &pos) < 7 || e <= s)
		return -EINVAL;
	m->start = s;
	m->end = e;
	m->off = o;
	m->inode = ino;
	snprintf(m->perms, sizeof(m->perms), "%.4s", perms);
	/* %n is not reached on a line that ends right after the inode. */
	p = pos ? line + pos : "";
	n = strcspn(p, "\n");
	if (n) {
		m->path = strndup(p, n);
		if (!m->path)
			return -ENOMEM;
	}
	return 0;
}

static void read_maps(void)
{
	char fn[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", (int)pid);
	f = fopen(fn, "re");
	if (!f) {
		if (errno == ENOENT || errno == ESRCH)
			wfreg_die_gone();
		if (errno == EACCES || errno == EPERM)
			wfreg_die_perm("the mappings");
		wfreg_die(WFREG_EXIT_USAGE, "%s: %s", fn, strerror(errno));
	}
	wfreg_maps = calloc(MAX_MAPS, sizeof(*wfreg_maps));
	if (!wfreg_maps)
		wfreg_die(WFREG_EXIT_NOWEFT, "out of memory");
	while (wfreg_nmaps < MAX_MAPS && getline(&line, &cap, f) > 0) {
		int r = wfreg_parse_maps_line(line, &wfreg_maps[wfreg_nmaps]);

		if (r == -ENOMEM)
			wfreg_die(WFREG_EXIT_NOWEFT, "out of memory");
		if (!r)
			wfreg_nmaps++;
	}
	free(line);
	if (ferror(f) && (errno == EACCES || errno == EPERM))
		wfreg_die_perm("the mappings");
	fclose(f);
	if (!wfreg_nmaps) {
		/* Empty maps: a kernel thread, a zombie, or no permission. */
		if (kill(pid, 0) && errno == ESRCH)
			wfreg_die_gone();
		wfreg_die(WFREG_EXIT_NOWEFT, "process %d has no memory mappings (a kernel thread or a zombie?)",
		    (int)pid);
	}
}

/* The mapping holding [addr, addr + len), or NULL. */
const struct wfreg_map *wfreg_map_of(uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i < wfreg_nmaps; i++)
		if (addr >= wfreg_maps[i].start && addr < wfreg_maps[i].end && len <= wfreg_maps[i].end - addr)
			return &wfreg_maps[i];
	return NULL;
}

/* --- ELF, read defensively ----------------------------------------------------------- */

struct elf {
	int fd;
	const unsigned char *mem;	/* the file in memory instead (fuzzers), or NULL */
	uint64_t size;
	bool is64;
	Elf64_Ehdr eh;		/* normalised to the 64-bit form */
	uint64_t shnum, shstrndx, phnum;
};

static int file_read(const struct elf *e, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;

	if (off > e->size || len > e->size - off)
		return -EINVAL;
	if (e->mem) {
		memcpy(buf, e->mem + off, len);
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(e->fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int read_shdr(const struct elf *e, uint64_t i, Elf64_Shdr *sh)
{
	if (i >= e->shnum)
		return -EINVAL;
	if (e->is64)
		return file_read(e, e->eh.e_shoff + i * sizeof(Elf64_Shdr), sh, sizeof(*sh));
	{
		Elf32_Shdr s;

		if (file_read(e, e->eh.e_shoff + i * sizeof(Elf32_Shdr), &s, sizeof(s)))
			return -EINVAL;
		sh->sh_name = s.sh_name;
		sh->sh_type = s.sh_type;
		sh->sh_flags = s.sh_flags;
		sh->sh_addr = s.sh_addr;
		sh->sh_offset = s.sh_offset;
		sh->sh_size = s.sh_size;
		sh->sh_link = s.sh_link;
		sh->sh_info = s.sh_info;
		sh->sh_addralign = s.sh_addralign;
		sh->sh_entsize = s.sh_entsize;
	}
	return 0;
}

static int read_phdr(const struct elf *e, uint64_t i, Elf64_Phdr *ph)
{
	if (i >= e->phnum)
		return -EINVAL;
	if (e->is64)
		return file_read(e, e->eh.e_phoff + i * sizeof(Elf64_Phdr), ph, sizeof(*ph));
	{
		Elf32_Phdr p;

		if (file_read(e, e->eh.e_phoff + i * sizeof(Elf32_Phdr), &p, sizeof(p)))
			return -EINVAL;
		ph->p_type = p.p_type;
		ph->p_flags = p.p_flags;
		ph->p_offset = p.p_offset;
		ph->p_vaddr = p.p_vaddr;
		ph->p_paddr = p.p_paddr;
		ph->p_filesz = p.p_filesz;
		ph->p_memsz = p.p_memsz;
		ph->p_align = p.p_align;
	}
	return 0;
}

/* Validate the ELF header and the extents of both header tables. */
static int elf_open(struct elf *e)
{
	unsigned char id[EI_NIDENT];
	uint64_t shent, phent;
	Elf64_Shdr sh0;

	if (file_read(e, 0, id, sizeof(id)) || memcmp(id, ELFMAG, SELFMAG))
		return -ENOEXEC;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (id[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
#else
	if (id[EI_DATA] != ELFDATA2MSB)
		return -ENOEXEC;
#endif
	if (id[EI_CLASS] == ELFCLASS64) {
		e->is64 = true;
		if (file_read(e, 0, &e->eh, sizeof(e->eh)))
			return -ENOEXEC;
		shent = sizeof(Elf64_Shdr);
		phent = sizeof(Elf64_Phdr);
	} else if (id[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr h;

		e->is64 = false;
		if (file_read(e, 0, &h, sizeof(h)))
			return -ENOEXEC;
		memcpy(e->eh.e_ident, h.e_ident, EI_NIDENT);
		e->eh.e_type = h.e_type;
		e->eh.e_phoff = h.e_phoff;
		e->eh.e_shoff = h.e_shoff;
		e->eh.e_phentsize = h.e_phentsize;
		e->eh.e_phnum = h.e_phnum;
		e->eh.e_shentsize = h.e_shentsize;
		e->eh.e_shnum = h.e_shnum;
		e->eh.e_shstrndx = h.e_shstrndx;
		shent = sizeof(Elf32_Shdr);
		phent = sizeof(Elf32_Phdr);
	} else {
		return -ENOEXEC;
	}
	if (e->eh.e_type != ET_EXEC && e->eh.e_type != ET_DYN)
		return -ENOEXEC;

	/* Section headers (absent after sstrip: then there is nothing to find). */
	e->shnum = e->eh.e_shnum;
	e->shstrndx = e->eh.e_shstrndx;
	if (e->eh.e_shoff) {
		if (e->eh.e_shentsize != shent)
			return -ENOEXEC;
		/* Extended numbering: the real values are in section 0. */
		if (e->shnum == 0 || e->shstrndx == SHN_XINDEX || e->eh.e_phnum == PN_XNUM) {
			e->shnum = 1;
			if (read_shdr(e, 0, &sh0))
				return -ENOEXEC;
			e->shnum = e->eh.e_shnum ? e->eh.e_shnum : sh0.sh_size;
			if (e->shstrndx == SHN_XINDEX)
				e->shstrndx = sh0.sh_link;
		}
		if (e->shnum > MAX_SECTIONS || e->eh.e_shoff > e->size ||
		    e->shnum * shent > e->size - e->eh.e_shoff)
			return -ENOEXEC;
	} else {
		e->shnum = 0;
	}

	e->phnum = e->eh.e_phnum;
	if (e->phnum == PN_XNUM && e->shnum) {
		if (read_shdr(e, 0, &sh0))
			return -ENOEXEC;
		e->phnum = sh0.sh_info;
	}
	if (e->phnum) {
		if (e->eh.e_phentsize != phent || e->phnum > MAX_PHDRS ||
		    e->eh.e_phoff > e->size || e->phnum * phent > e->size - e->eh.e_phoff)
			return -ENOEXEC;
	}
	return 0;
}

/* Find the allocated section called name: its link-time address and size. */
static int elf_section(const struct elf *e, const char *name, uint64_t *addr, uint64_t *size)
{
	size_t nlen = strlen(name);
	Elf64_Shdr strs, sh;
	char *tab;
	int r = -ENOENT;

	if (!e->shnum || e->shstrndx >= e->shnum || read_shdr(e, e->shstrndx, &strs))
		return -ENOENT;
	if (strs.sh_type != SHT_STRTAB || strs.sh_size == 0 || strs.sh_size > MAX_SHSTRTAB ||
	    strs.sh_offset > e->size || strs.sh_size > e->size - strs.sh_offset)
		return -ENOEXEC;
	tab = malloc(strs.sh_size + 1);
	if (!tab)
		return -ENOMEM;
	if (file_read(e, strs.sh_offset, tab, strs.sh_size)) {
		free(tab);
		return -ENOEXEC;
	}
	tab[strs.sh_size] = '\0';
	for (uint64_t i = 1; i < e->shnum; i++) {
		if (read_shdr(e, i, &sh))
			break;
		if (sh.sh_name >= strs.sh_size || strs.sh_size - sh.sh_name < nlen + 1 ||
		    memcmp(tab + sh.sh_name, name, nlen + 1))
			continue;
		if (!(sh.sh_flags & SHF_ALLOC) || sh.sh_type != SHT_PROGBITS)
			continue;
		*addr = sh.sh_addr;
		*size = sh.sh_size;
		r = 0;
		break;
	}
	free(tab);
	return r;
}

/*
 * Load bias of the file whose mappings are those with this inode and path:
 * a mapping at file offset off comes from the PT_LOAD whose page-aligned
 * p_offset is off, and sits at bias + page-aligned p_vaddr.
 */
static int elf_load_vaddr(const struct elf *e, uint64_t off, uint64_t *vaddr)
{
	uint64_t pmask = ~((uint64_t)page_size - 1);

	for (uint64_t j = 0; j < e->phnum; j++) {
		Elf64_Phdr ph;

		if (read_phdr(e, j, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || (ph.p_offset & pmask) != off)
			continue;
		*vaddr = ph.p_vaddr & pmask;
		return 0;
	}
	return -ENOENT;
}

static int elf_bias(const struct elf *e, const struct wfreg_map *file_map, uint64_t *bias)
{
	for (size_t i = 0; i < wfreg_nmaps; i++) {
		const struct wfreg_map *m = &wfreg_maps[i];
		uint64_t vaddr;
		int r;

		if (!m->path || m->inode != file_map->inode || strcmp(m->path, file_map->path))
			continue;
		r = elf_load_vaddr(e, m->off, &vaddr);
		if (r == -ENOENT)
			continue;
		if (r)
			return r;
		*bias = m->start - vaddr;
		return 0;
	}
	return -ENOENT;
}

/*
 * The checks find_in_files() applies to a mapped file, on a file in
 * memory: the ELF headers, the WF_REG_SECTION section (*addr, *size) and
 * the page-aligned p_vaddr of the PT_LOAD mapped from file offset map_off
 * (*vaddr). 0, -ENOEXEC (not usable ELF), -ENOENT (no such section or
 * segment), -ENOMEM.
 */
int wfreg_elf_probe(const void *buf, size_t len, uint64_t map_off, uint64_t *addr,
		    uint64_t *size, uint64_t *vaddr)
{
	struct elf e = { .fd = -1, .mem = buf, .size = len };
	int r;

	if (page_size <= 0)
		page_size = 4096;
	r = elf_open(&e);
	if (!r)
		r = elf_section(&e, WF_REG_SECTION, addr, size);
	if (!r)
		r = elf_load_vaddr(&e, map_off, vaddr);
	return r;
}

/*
 * Open a mapped file as the target sees it: through /proc/PID/root,
 * resolving inside that root (openat2 RESOLVE_IN_ROOT where the kernel
 * has it); for a deleted or replaced file, through /proc/PID/map_files.
 */
int wfreg_open_mapped(const struct wfreg_map *m)
{
	char buf[PATH_MAX + 64];
	struct stat st;
	int fd = -1, root;

	snprintf(buf, sizeof(buf), "/proc/%d/root", (int)pid);
	root = open(buf, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root >= 0) {
		struct open_how how = {
			.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};

		fd = (int)syscall(SYS_openat2, root, m->path, &how, sizeof(how));
		if (fd < 0 && errno == ENOSYS) {
			snprintf(buf, sizeof(buf), "/proc/%d/root%s", (int)pid, m->path);
			fd = open(buf, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		}
		close(root);
	}
	if (fd >= 0 &&
	    (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != m->inode)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		/* Deleted, replaced, or not reachable by name: needs CAP_SYS_ADMIN. */
		snprintf(buf, sizeof(buf), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid,
			 m->start, m->end);
		fd = open(buf, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

/* --- finding roots --------------------------------------------------------------------- */


static struct wfreg_found found[MAX_REGISTRIES];
static size_t nfound;

/*
 * Validate a root copied from the target: 0, -ENOENT (no magic), -EPROTO
 * (another version or layout). Terminates lib_version.
 */
int wfreg_root_valid(struct wf_registry *r)
{
	if (memcmp(r->magic, WF_REG_MAGIC, sizeof(r->magic)))
		return -ENOENT;
	if (r->version != WF_REG_VERSION || r->size < sizeof(*r) || r->size > MAX_STRUCT ||
	    r->worker_size < sizeof(struct wf_reg_worker) || r->worker_size > MAX_STRUCT ||
	    r->task_size < sizeof(struct wf_reg_task) || r->task_size > MAX_STRUCT ||
	    r->runtime_size < sizeof(struct wf_reg_runtime) || r->runtime_size > MAX_STRUCT)
		return -EPROTO;
	r->lib_version[sizeof(r->lib_version) - 1] = '\0';
	return 0;
}

/* Read and validate a root at addr. */
static int root_check(uint64_t addr, struct wf_registry *r)
{
	if (wfreg_remote_read(addr, r, sizeof(*r)))
		return -EFAULT;
	return wfreg_root_valid(r);
}

static void add_found(uint64_t addr, const char *object, const char *how)
{
	struct wf_registry r;
	int err;

	for (size_t i = 0; i < nfound; i++)
		if (found[i].addr == addr)
			return;
	if (nfound == MAX_REGISTRIES)
		return;
	err = root_check(addr, &r);
	if (err) {
		vlog("0x%" PRIx64 " (%s): %s", addr, object ? object : "memory",
		     err == -EPROTO ? "unsupported registry version or layout"
				    : "no valid registry there");
		if (err == -EPROTO)
			fprintf(stderr,
				"%s: registry at 0x%" PRIx64 " has version %u (this tool "
				"reads version %d): upgrade %s\n",
				wfreg_prog, addr, r.version, WF_REG_VERSION, wfreg_prog);
		return;
	}
	found[nfound].addr = addr;
	found[nfound].object = object;
	found[nfound].how = how;
	found[nfound].root = r;
	nfound++;
}

static void find_in_files(void)
{
	size_t nfiles = 0;

	for (size_t i = 0; i < wfreg_nmaps && nfiles < MAX_FILES; i++) {
		const struct wfreg_map *m = &wfreg_maps[i], *rm;
		struct elf e = { .fd = -1 };
		uint64_t addr, size, bias;
		struct stat st;
		bool seen = false;
		int r;

		if (!m->path || m->path[0] != '/' || !m->inode)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = wfreg_maps[j].path && wfreg_maps[j].inode == m->inode &&
			       !strcmp(wfreg_maps[j].path, m->path);
		if (seen)
			continue;
		nfiles++;
		e.fd = wfreg_open_mapped(m);
		if (e.fd < 0) {
			vlog("%s: cannot open (%s)", m->path, strerror(errno));
			continue;
		}
		if (fstat(e.fd, &st)) {
			close(e.fd);
			continue;
		}
		e.size = (uint64_t)st.st_size;
		r = elf_open(&e);
		if (!r)
			r = elf_section(&e, WF_REG_SECTION, &addr, &size);
		if (!r && size < sizeof(struct wf_registry))
			r = -ENOEXEC;
		if (!r)
			r = elf_bias(&e, m, &bias);
		close(e.fd);
		if (r) {
			if (r != -ENOEXEC || wfreg_verbose)
				vlog("%s: %s", m->path,
				     r == -ENOENT ? "no section " WF_REG_SECTION
						  : "not usable ELF");
			continue;
		}
		addr += bias;
		/* The runtime writes the root: it lies in a writable mapping. */
		rm = wfreg_map_of(addr, sizeof(struct wf_registry));
		if (!rm || rm->perms[0] != 'r' || rm->perms[1] != 'w') {
			vlog("%s: section address 0x%" PRIx64 " is not in writable memory", m->path,
			     addr);
			continue;
		}
		vlog("%s: section " WF_REG_SECTION " at 0x%" PRIx64, m->path, addr);
		add_found(addr, m->path, "section");
	}
}

static bool scannable(const struct wfreg_map *m, bool files)
{
	if (m->perms[0] != 'r' || m->perms[1] != 'w')
		return false;
	if (files)
		return m->path && m->path[0] == '/';
	/* Anonymous memory (the heap and .bss continuations), not the kernel's. */
	return !m->path || !strcmp(m->path, "[heap]");
}

/* Search writable mappings for the magic at 64-byte alignment (bounded). */
static void scan_memory(void)
{
	char *buf = malloc(SCAN_CHUNK);
	uint64_t total = 0;

	if (!buf)
		return;
	/* File-backed data first (where the root lives), then anonymous memory. */
	for (int pass = 0; pass < 2 && !nfound; pass++) {
		for (size_t i = 0; i < wfreg_nmaps && total < SCAN_TOTAL; i++) {
			const struct wfreg_map *m = &wfreg_maps[i];
			uint64_t len = m->end - m->start;

			if (!scannable(m, pass == 0))
				continue;
			if (len > SCAN_PER_MAP)
				len = SCAN_PER_MAP;
			for (uint64_t off = 0; off < len && total < SCAN_TOTAL; off += SCAN_CHUNK) {
				size_t n =
					len - off < SCAN_CHUNK ? (size_t)(len - off) : SCAN_CHUNK;

				total += n;
				if (wfreg_remote_read(m->start + off, buf, n))
					continue;
				for (size_t k = 0; k + 8 <= n; k += 64)
					if (!memcmp(buf + k, WF_REG_MAGIC, 8))
						add_found(m->start + off + k, m->path, "scan");
			}
		}
	}
	vlog("scanned %" PRIu64 " bytes", total);
	free(buf);
}

/* --- reading the registry -------------------------------------------------------------- */


/*
 * Retries left in this walk: a target whose slots always look mid-write
 * (an odd sequence count, by accident or on purpose) must not cost
 * SEQ_TRIES reads for each of thousands of slots.
 */
static unsigned seq_budget;

/* Copy a slot under its sequence count: seq, fields, seq again. */
static bool read_slot(uint64_t addr, struct wf_reg_worker *s)
{
	for (int i = 0; i < SEQ_TRIES; i++) {
		uint32_t seq1, seq2;

		if (i && !seq_budget)
			return false;
		if (i)
			seq_budget--;
		if (wfreg_remote_read(addr, &seq1, sizeof(seq1)))
			return false;
		if (seq1 & 1)
			continue;
		if (wfreg_remote_read(addr, s, sizeof(*s)) || wfreg_remote_read(addr, &seq2, sizeof(seq2)))
			return false;
		if (seq1 == seq2 && s->seq == seq1)
			return true;
	}
	return false;
}

/* Spawn-site name bytes left to read since the last walk (wfreg_task_file). */
static size_t name_budget;

static void read_worker(uint64_t addr, struct wfreg_worker_view *v, unsigned flags)
{
	memset(v, 0, sizeof(*v));
	v->stable = read_slot(addr, &v->s);
	if (!(flags & WFREG_READ_TASKS) || !v->stable || v->s.state != WF_REG_W_POLLING ||
	    !v->s.task_addr)
		return;
	/* The task may finish and be freed meanwhile: its id must still match. */
	if (wfreg_remote_read(v->s.task_addr, &v->task, sizeof(v->task)) || v->task.id != v->s.task_id)
		return;
	v->task.name[sizeof(v->task.name) - 1] = '\0';
	v->have_task = true;
}

int wfreg_task_file(const struct wfreg_worker_view *w, char *out, size_t cap)
{
	size_t n;

	if (!cap)
		return -EINVAL;
	out[0] = '\0';
	if (!w->have_task)
		return -EFAULT;
	if (cap > WFREG_MAX_STR)
		cap = WFREG_MAX_STR;
	if (name_budget < cap)
		cap = name_budget;
	if (cap < 2)
		return -ENOSPC;
	if (wfreg_remote_str(w->task.file_addr, out, cap))
		return -EFAULT;
	/* What was copied, and the page the terminator was looked for in. */
	n = strlen(out) + 1;
	name_budget -= n < name_budget ? n : name_budget;
	return 0;
}

/*
 * The monotonic offset in the text of /proc/PID/timens_offsets ("monotonic
 * SECONDS NANOSECONDS" lines; the last one counts), in nanoseconds; 0 when
 * there is none. The kernel keeps offsets within +-KTIME_MAX/2; larger
 * values (garbage) are ignored rather than overflowed.
 */
int64_t wfreg_parse_timens(const char *text)
{
	const int64_t max_s = INT64_MAX / 1000000000 / 2;
	int64_t off = 0;

	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		long long s, ns;

		if (sscanf(l, "monotonic %lld %lld", &s, &ns) == 2 && s >= -max_s && s <= max_s &&
		    ns > -1000000000 && ns < 1000000000)
			off = (int64_t)s * 1000000000 + ns;
		if (!nl)
			break;
		l = nl + 1;
	}
	return off;
}

/* CLOCK_MONOTONIC as the target sees it (time namespaces offset it). */
int64_t wfreg_timens_offset(pid_t p)
{
	char fn[64], text[512];
	size_t n;
	FILE *f;

	if (p)
		snprintf(fn, sizeof(fn), "/proc/%d/timens_offsets", (int)p);
	else
		snprintf(fn, sizeof(fn), "/proc/self/timens_offsets");
	f = fopen(fn, "re");
	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return wfreg_parse_timens(text);
}

uint64_t wfreg_target_now(void)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return now - (uint64_t)wfreg_timens_offset(0) + (uint64_t)wfreg_timens_offset(pid);
}

const char *wfreg_flavor_name(uint32_t f)
{
	return f == 1 ? "current-thread" : f == 0 ? "multi-thread" : "unknown";
}

const char *wfreg_state_name(uint32_t s)
{
	static const char *const names[] = {
		"starting", "polling", "scheduling", "searching", "parked", "stopped",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

/* Text from the target, safe for a terminal: non-printable bytes become '?'. */
void wfreg_put_safe(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?', f);
}


void wfreg_free_runtimes(struct wfreg_runtime_view *rv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rv[i].w);
}

/*
 * Walk the runtime list (bounded, cycle-proof); retried when the list
 * changed meanwhile (generation). Returns the number of runtimes, -1 if
 * the list could not be read.
 */
int wfreg_read_runtimes(const struct wfreg_found *fd, struct wfreg_runtime_view *rv,
			unsigned flags)
{
	name_budget = WFREG_NAME_BUDGET;
	/*
	 * One budget of retries for all the attempts: an image whose list is
	 * inconsistent (a read fails) is walked WALK_TRIES times, and each
	 * walk must not spend SEQ_BUDGET retries again.
	 */
	seq_budget = SEQ_BUDGET;
	for (int attempt = 0; attempt < WALK_TRIES; attempt++) {
		struct wf_registry root;
		uint64_t gen, gen2, addr;
		uint32_t slots = MAX_WALK_WORKERS;
		int n = 0;
		bool bad = false;

		if (root_check(fd->addr, &root))
			return -1;
		gen = root.generation;
		addr = root.runtimes_addr;
		while (addr && n < WFREG_MAX_RUNTIMES) {
			struct wfreg_runtime_view *v = &rv[n];
			bool loop = false;

			for (int i = 0; i < n; i++)
				loop |= rv[i].addr == addr;
			if (loop)
				break;
			memset(v, 0, sizeof(*v));
			v->addr = addr;
			if (wfreg_remote_read(addr, &v->r, sizeof(v->r)) || v->r.nworkers > MAX_WORKERS) {
				bad = true;
				break;
			}
			v->r.thread_name[sizeof(v->r.thread_name) - 1] = '\0';
			/* Slots past the walk's limit are not read (nor traced). */
			if (v->r.nworkers > slots)
				v->r.nworkers = slots;
			slots -= v->r.nworkers;
			v->w = calloc(v->r.nworkers ? v->r.nworkers : 1, sizeof(*v->w));
			if (!v->w) {
				bad = true;
				break;
			}
			n++;
			for (uint32_t i = 0; i < v->r.nworkers; i++)
				read_worker(v->r.workers_addr + (uint64_t)i * root.worker_size,
					    &v->w[i], flags);
			addr = v->r.next_addr;
		}
		if (wfreg_remote_read(fd->addr + offsetof(struct wf_registry, generation), &gen2,
				sizeof(gen2)))
			return -1;
		if (!bad && gen == gen2)
			return n;
		wfreg_free_runtimes(rv, (size_t)n);
	}
	return -1;
}

/* --- entry points ---------------------------------------------------------------------- */

void wfreg_open(pid_t target)
{
	pid = target;
	page_size = sysconf(_SC_PAGESIZE);
	if (page_size <= 0)
		page_size = 4096;
	if (kill(pid, 0) && errno == ESRCH)
		wfreg_die_gone();
	read_maps();
}

size_t wfreg_find(bool scan, const struct wfreg_found **out)
{
	if (!scan)
		find_in_files();
	if (!nfound) {
		if (!scan)
			vlog("no " WF_REG_SECTION " section in any mapped file: scanning memory");
		scan_memory();
	}
	*out = found;
	return nfound;
}

void wfreg_close(void)
{
	for (size_t i = 0; i < wfreg_nmaps; i++)
		free(wfreg_maps[i].path);
	free(wfreg_maps);
	wfreg_maps = NULL;
	wfreg_nmaps = 0;
	nfound = 0;
}
