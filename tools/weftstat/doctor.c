// SPDX-License-Identifier: MIT
/*
 * doctor.c - weftstat doctor: can this machine run weftstat?
 *
 * Each check prints "ok", "WARN" (something optional is missing: a
 * feature later phases use) or "FAIL" (weftstat report cannot work), and
 * every WARN and FAIL says how to fix it. The last check loads the BPF
 * programs for real (without attaching them): what the verifier accepts
 * is the only proof. Exit status 0 when nothing failed, 1 otherwise.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zlib.h>

#include <bpf/libbpf.h>

#include "weftstat.skel.h"
#include "ws.h"

#define TRACEFS_MAGIC_ 0x74726163
#define CAP_DAC_READ_SEARCH_ 2
#define CAP_SYS_ADMIN_ 21
#define CAP_SYS_PTRACE_ 19
#define CAP_PERFMON_ 38
#define CAP_BPF_ 39

/* kconfig/kernel.config, the options the tracer and the tests need. */
static const char *const kernel_options[] = {
#include "kernel_config.h"
};

static int nfail, nwarn;

static void result(int level, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void result(int level, const char *what, const char *fmt, ...)
{
	static const char *const tag[] = { "ok  ", "WARN", "FAIL" };
	va_list ap;

	printf("%s %-14s ", tag[level], what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	nwarn += level == 1;
	nfail += level == 2;
}

static unsigned long long cap_eff(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps;
}

static void check_privileges(void)
{
	unsigned long long c = cap_eff();
	bool bpf = c & (1ull << CAP_BPF_), perfmon = c & (1ull << CAP_PERFMON_);
	bool admin = c & (1ull << CAP_SYS_ADMIN_), ptrace = c & (1ull << CAP_SYS_PTRACE_);
	bool dac = c & (1ull << CAP_DAC_READ_SEARCH_);

	if (geteuid() == 0 && bpf && perfmon && ptrace && dac) {
		result(0, "privileges", "root");
		return;
	}
	if ((bpf || admin) && (perfmon || admin) && ptrace) {
		result(0, "privileges", "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), CAP_SYS_PTRACE");
		if (!dac)
			result(1, "privileges",
			       "missing CAP_DAC_READ_SEARCH: stacks will show addresses, not "
			       "names (/proc/PID/auxv is root's); grant it: setcap "
			       "cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search+ep weftstat");
		return;
	}
	result(2, "privileges",
	       "missing%s%s%s: run as root, or grant them: setcap "
	       "cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search+ep weftstat",
	       bpf || admin ? "" : " CAP_BPF", perfmon || admin ? "" : " CAP_PERFMON",
	       ptrace ? "" : " CAP_SYS_PTRACE (to read the target's registry)");
}

static void check_btf(void)
{
	if (!access("/sys/kernel/btf/vmlinux", R_OK))
		result(0, "BTF", "/sys/kernel/btf/vmlinux");
	else
		result(2, "BTF",
		       "/sys/kernel/btf/vmlinux is missing (%s): boot a kernel built with "
		       "CONFIG_DEBUG_INFO_BTF=y",
		       strerror(errno));
}

static bool is_tracefs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && (unsigned long)st.f_type == TRACEFS_MAGIC_;
}

static const char *check_tracefs(void)
{
	if (is_tracefs("/sys/kernel/tracing")) {
		result(0, "tracefs", "mounted on /sys/kernel/tracing");
		return "/sys/kernel/tracing";
	}
	if (is_tracefs("/sys/kernel/debug/tracing")) {
		result(0, "tracefs", "mounted on /sys/kernel/debug/tracing");
		return "/sys/kernel/debug/tracing";
	}
	result(1, "tracefs",
	       "not mounted (report does not need it; uprobes and USDT do): "
	       "mount -t tracefs nodev /sys/kernel/tracing");
	return NULL;
}

/* The running kernel's configuration, one "CONFIG_X=v" per line, or NULL. */
static char *kernel_config(char *src, size_t srclen)
{
	struct utsname u;
	char path[300], buf[65536], *out = NULL;
	size_t len = 0;
	gzFile gz;
	int n;

	snprintf(src, srclen, "/proc/config.gz");
	gz = gzopen(src, "rb");
	if (!gz && !uname(&u)) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		snprintf(src, srclen, "%s", path);
		gz = gzopen(path, "rb");	/* reads plain files too */
	}
	if (!gz)
		return NULL;
	while ((n = gzread(gz, buf, sizeof(buf))) > 0) {
		char *o = realloc(out, len + (size_t)n + 1);

		if (!o) {
			free(out);
			gzclose(gz);
			return NULL;
		}
		out = o;
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
	gzclose(gz);
	return out;
}

static bool config_has(const char *cfg, const char *want)
{
	size_t n = strlen(want);
	const char *p = cfg;

	/* "CONFIG_X=m" is satisfied by =y; lines are matched whole. */
	while ((p = strstr(p, want))) {
		if ((p == cfg || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return true;
		p += n;
	}
	if (n > 2 && !strcmp(want + n - 2, "=m")) {
		char y[128];

		snprintf(y, sizeof(y), "%.*s=y", (int)(n - 2), want);
		return config_has(cfg, y);
	}
	return false;
}

static void check_kernel_config(const char *tracefs)
{
	char src[320], *cfg = kernel_config(src, sizeof(src));
	char missing[1024] = "";
	size_t nmiss = 0, n = sizeof(kernel_options) / sizeof(kernel_options[0]);

	if (!cfg) {
		result(1, "kernel config",
		       "neither /proc/config.gz nor /boot/config-$(uname -r) is readable: "
		       "'modprobe configs' (CONFIG_IKCONFIG_PROC) to check the options");
	} else {
		for (size_t i = 0; i < n; i++) {
			if (config_has(cfg, kernel_options[i]))
				continue;
			nmiss++;
			if (strlen(missing) + strlen(kernel_options[i]) + 2 < sizeof(missing)) {
				strcat(missing, " ");
				strcat(missing, kernel_options[i]);
			}
		}
		if (nmiss)
			result(2, "kernel config",
			       "%zu of %zu options missing in %s:%s; rebuild the kernel with "
			       "kconfig/kernel.config merged (make kernel-check)",
			       nmiss, n, src, missing);
		else
			result(0, "kernel config", "all %zu options of kconfig/kernel.config (%s)",
			       n, src);
	}

	/* uprobes: the tracefs file, else the configuration. */
	if (tracefs) {
		char p[128];

		snprintf(p, sizeof(p), "%s/uprobe_events", tracefs);
		if (!access(p, F_OK))
			result(0, "uprobes", "%s", p);
		else
			result(1, "uprobes",
			       "no %s: boot a kernel with CONFIG_UPROBE_EVENTS=y (USDT probes)", p);
	} else if (cfg && config_has(cfg, "CONFIG_UPROBE_EVENTS=y")) {
		result(0, "uprobes", "CONFIG_UPROBE_EVENTS=y");
	} else {
		result(1, "uprobes",
		       "cannot tell (no tracefs, no kernel config): mount tracefs, see above");
	}
	free(cfg);
}

static void check_io_uring(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	if (v == 0 || (v < 0 && !access("/proc/sys/kernel", F_OK) && errno != ENOENT))
		result(0, "io_uring", "enabled (kernel.io_uring_disabled = 0)");
	else if (v < 0)
		result(0, "io_uring", "no kernel.io_uring_disabled knob (older kernel): enabled");
	else
		result(1, "io_uring",
		       "kernel.io_uring_disabled = %d: weft falls back to epoll; "
		       "enable with: sysctl kernel.io_uring_disabled=0",
		       v);
}

static void check_bpf_load(void)
{
	struct weftstat_bpf *s = NULL;
	const char *flavour;
	char err[256];

	if (ws_load(&s, getpid(), false, &flavour, err, sizeof(err))) {
		result(2, "BPF programs",
		       "%s (WEFTSTAT_DEBUG=1 shows the verifier's log); check the privileges "
		       "and kernel options above",
		       err);
		return;
	}
	result(0, "BPF programs", "weftstat's programs load (%s sched, %s, %s)",
	       strncmp(flavour, "tp_btf", 6) ? "raw_tp" : "tp_btf",
	       !strcmp(flavour, "tp_btf") || !strcmp(flavour, "tp_btf+wakeup_tp")
		       ? "syscalls read from the registers"
		       : "raw_tp syscalls",
	       !strcmp(flavour, "tp_btf") || !strcmp(flavour, "tp_btf+sys_tp")
		       ? "run-queue waits from sched_info"
		       : "wakeup programs");
	weftstat_bpf__destroy(s);
}

int ws_doctor(int argc, char **argv)
{
	const char *tracefs;

	if (argc > 1) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			printf("usage: weftstat doctor\n"
			       "Check this machine can run weftstat: privileges, BTF, tracefs,\n"
			       "uprobes, io_uring, the kernel's options, and load the programs.\n"
			       "Exit status: 0 no check failed; 1 a check failed.\n");
			return WS_EXIT_OK;
		}
		fprintf(stderr, "weftstat: doctor takes no arguments, not '%s'\n", argv[1]);
		return WS_EXIT_USAGE;
	}
	check_privileges();
	check_btf();
	tracefs = check_tracefs();
	check_kernel_config(tracefs);
	check_io_uring();
	check_bpf_load();
	printf("%d failed, %d warning%s\n", nfail, nwarn, nwarn == 1 ? "" : "s");
	return nfail ? WS_EXIT_FAIL : WS_EXIT_OK;
}
