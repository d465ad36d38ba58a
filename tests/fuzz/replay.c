// SPDX-License-Identifier: MIT
/*
 * replay.c - a deterministic driver for the fuzz targets, for `make check`:
 *
 *	replay_NAME [-m MUTATIONS] [-s SEED] [-o CRASH_DIR] CORPUS_DIR...
 *
 * runs every file of the corpus directories through the target, then
 * MUTATIONS mutants (default 300) made from them with a fixed seed: bit
 * flips, interesting bytes and integers, insertions, deletions, block
 * copies and splices of two seeds, the mutations libFuzzer starts with.
 * The same seed gives the same inputs, so a failure reproduces. Built
 * with ASan and UBSan: a crash, an overread or undefined behaviour ends
 * the program, after the input has been written to CRASH_DIR (default
 * the current directory) as replay-crash-NAME. An input running longer
 * than 10 s is a hang: it is written out the same way and the program
 * aborts. Exit 0: every input passed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define INPUT_MAX (64 * 1024)
#define HANG_S 10

struct input {
	uint8_t *data;
	size_t len;
	char *name;
};

static struct input *seeds;
static size_t nseeds;
static const uint8_t *cur;
static size_t cur_len;
static char crash_path[4096];
static char cur_what[512];

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	/* xorshift64*: fixed sequence for a fixed seed. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static size_t below(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

/* Write the input being run where the user can replay it (async-signal-safe). */
static void save_current(void)
{
	int fd;

	if (!cur)
		return;
	fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		size_t done = 0;

		while (done < cur_len) {
			ssize_t n = write(fd, cur + done, cur_len - done);

			if (n <= 0)
				break;
			done += (size_t)n;
		}
		close(fd);
	}
	(void)!write(2, "replay: failing input (", 23);
	(void)!write(2, cur_what, strlen(cur_what));
	(void)!write(2, ") written to ", 13);
	(void)!write(2, crash_path, strlen(crash_path));
	(void)!write(2, "\n", 1);
}

static void on_fatal(int sig)
{
	if (sig == SIGALRM)
		(void)!write(2, "replay: hang: an input ran longer than 10 s\n", 44);
	save_current();
	signal(sig, SIG_DFL);
	if (sig == SIGALRM)
		abort();
	raise(sig);
}

#ifndef FUZZ_NO_SANITIZER
/* The sanitizers report, then call this before they exit. */
void __sanitizer_set_death_callback(void (*cb)(void));
#endif

static void run(const uint8_t *data, size_t len)
{
	cur = data;
	cur_len = len;
	alarm(HANG_S);
	LLVMFuzzerTestOneInput(data, len);
	alarm(0);
	cur = NULL;
}

static void load_dir(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0) {
		fprintf(stderr, "replay: %s: cannot read the corpus\n", dir);
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		free(ents[i]);
		if (stat(path, &st) || !S_ISREG(st.st_mode) || st.st_size > INPUT_MAX)
			continue;
		f = fopen(path, "rb");
		if (!f)
			continue;
		seeds = realloc(seeds, (nseeds + 1) * sizeof(*seeds));
		if (!seeds)
			abort();
		seeds[nseeds].data = malloc(st.st_size ? (size_t)st.st_size : 1);
		if (!seeds[nseeds].data)
			abort();
		seeds[nseeds].len = fread(seeds[nseeds].data, 1, (size_t)st.st_size, f);
		seeds[nseeds].name = strdup(path);
		fclose(f);
		nseeds++;
	}
	free(ents);
}

static const uint64_t interesting[] = {
	0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
	0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xffffffffffffffffull, 4096, 4095, 64, 63, 1000, 65535, 65536,
};

/* One mutant of seed s into buf (INPUT_MAX bytes): its length. */
static size_t mutate(uint8_t *buf, const struct input *s, unsigned rounds)
{
	size_t len = s->len;

	memcpy(buf, s->data, len);
	for (unsigned r = 0; r < rounds; r++) {
		switch (below(8)) {
		case 0:	/* flip a bit */
			if (len)
				buf[below(len)] ^= (uint8_t)(1u << below(8));
			break;
		case 1:	/* an interesting byte */
			if (len)
				buf[below(len)] = (uint8_t)interesting[below(9)];
			break;
		case 2: {	/* an interesting integer, 2, 4 or 8 bytes, unaligned */
			size_t w = (size_t)1 << (1 + below(3));
			uint64_t v = interesting[below(sizeof(interesting) / sizeof(interesting[0]))];

			if (len >= w)
				memcpy(buf + below(len - w + 1), &v, w);
			break;
		}
		case 3: {	/* insert random bytes */
			size_t n = 1 + below(16), at = below(len + 1);

			if (len + n > INPUT_MAX)
				break;
			memmove(buf + at + n, buf + at, len - at);
			for (size_t i = 0; i < n; i++)
				buf[at + i] = (uint8_t)next();
			len += n;
			break;
		}
		case 4: {	/* delete a run */
			size_t at = below(len), n;

			if (!len)
				break;
			n = 1 + below(len - at < 32 ? len - at : 32);
			memmove(buf + at, buf + at + n, len - at - n);
			len -= n;
			break;
		}
		case 5: {	/* copy a block within */
			size_t from, to, n;

			if (len < 2)
				break;
			n = 1 + below(len / 2);
			from = below(len - n + 1);
			to = below(len - n + 1);
			memmove(buf + to, buf + from, n);
			break;
		}
		case 6: {	/* splice: the tail of another seed */
			const struct input *o = &seeds[below(nseeds)];
			size_t at = below(len + 1), from = below(o->len + 1), n = o->len - from;

			if (at + n > INPUT_MAX)
				n = INPUT_MAX - at;
			memcpy(buf + at, o->data + from, n);
			len = at + n;
			break;
		}
		default:	/* truncate */
			if (len)
				len = below(len + 1);
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	unsigned long muts = 300;
	const char *outdir = ".", *name;
	uint8_t *buf;
	int c;

	while ((c = getopt(argc, argv, "m:s:o:")) != -1) {
		switch (c) {
		case 'm':
			muts = strtoul(optarg, NULL, 10);
			break;
		case 's':
			rng = strtoull(optarg, NULL, 0) | 1;
			break;
		case 'o':
			outdir = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-m N] [-s SEED] [-o DIR] CORPUS_DIR...\n",
				argv[0]);
			return 2;
		}
	}
	name = strrchr(argv[0], '/');
	name = name ? name + 1 : argv[0];
	if (!strncmp(name, "replay_", 7))
		name += 7;
	snprintf(crash_path, sizeof(crash_path), "%s/replay-crash-%s", outdir, name);
	signal(SIGSEGV, on_fatal);
	signal(SIGABRT, on_fatal);
	signal(SIGFPE, on_fatal);
	signal(SIGBUS, on_fatal);
	signal(SIGALRM, on_fatal);
#ifndef FUZZ_NO_SANITIZER
	__sanitizer_set_death_callback(save_current);
#else
	printf("# no sanitizer runtime for this compiler: replaying without ASan and UBSan\n");
#endif
	for (int i = optind; i < argc; i++)
		load_dir(argv[i]);
	if (!nseeds) {
		fprintf(stderr, "replay: no corpus files\n");
		return 2;
	}
	for (size_t i = 0; i < nseeds; i++) {
		snprintf(cur_what, sizeof(cur_what), "%s", seeds[i].name);
		run(seeds[i].data, seeds[i].len);
	}
	buf = malloc(INPUT_MAX);
	if (!buf)
		abort();
	for (unsigned long m = 0; m < muts; m++) {
		const struct input *s = &seeds[m % nseeds];
		size_t len = mutate(buf, s, 1 + (unsigned)below(4));
		uint8_t *in = malloc(len ? len : 1);	/* exact size: ASan sees overreads */

		if (!in)
			abort();
		memcpy(in, buf, len);
		snprintf(cur_what, sizeof(cur_what), "mutation %lu of %s", m, s->name);
		run(in, len);
		free(in);
	}
	printf("%s: %zu corpus files and %lu mutations passed\n", name, nseeds, muts);
	for (size_t i = 0; i < nseeds; i++) {
		free(seeds[i].data);
		free(seeds[i].name);
	}
	free(seeds);
	free(buf);
	return 0;
}
