/* The floor under an accepted login: the least a durable single-use record
 * needs -- one write of one block into an existing file and one data flush
 * (pwrite + fdatasync: what store_files.c state_write does per accepted
 * login, without locking, parsing or checks) -- plus the HMACs of one
 * verification window (tp_totp_verify, window ±1).
 *
 * The write goes to a different laid-out file each time, as a login's
 * does: each account has its own state record, and a TOTP step is accepted
 * once, so an account's record was last written at least a period ago and
 * the write always changes the file's mtime.  Where the filesystem must
 * then write the inode as well (ext4 without a journal does, in
 * fdatasync), that is part of the floor.  Beside it, for comparison:
 * the same write into one file over and over (its mtime changes at most
 * once per clock tick, so it mostly measures the data block alone), and
 * the old floor, a whole-file replacement (temp file, write, fsync,
 * rename, fsync the folder), what a login cost before the state record.
 *
 *   floor DIR BYTES [ITERS]
 *
 * DIR should be the owner folder of the store being measured, so the
 * folder's size is part of the floor. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "totp.h"
#include "bench_common.h"

static void die(const char *what)
{
	perror(what);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned iters, hmac_iters = 20000;
	size_t bytes;
	char *buf;
	double *lat, *ip, *pf, *hl, t;
	int *fds;
	int sfd;
	int dirfd;
	unsigned char key[BENCH_SECRET_LEN];
	struct tp_totp_params p = { TP_SHA1, 6, 30 };

	if (argc < 3) {
		fprintf(stderr, "usage: floor DIR BYTES [ITERS]\n");
		return 2;
	}
	bytes = strtoul(argv[2], NULL, 10);
	iters = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 500;
	buf = malloc(bytes + 1);
	lat = malloc(iters * sizeof(*lat));
	ip = malloc(iters * sizeof(*ip));
	pf = malloc(iters * sizeof(*pf));
	fds = malloc(iters * sizeof(*fds));
	hl = malloc(hmac_iters * sizeof(*hl));
	if (buf == NULL || lat == NULL || ip == NULL || pf == NULL || fds == NULL ||
	    hl == NULL || iters == 0)
		die("malloc");
	memset(buf, 'x', bytes);
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		die(argv[1]);
	for (unsigned i = 0; i < iters; i++) {
		int fd;
		t = bench_now_us();
		fd = openat(dirfd, ".floor.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			die("create");
		if (write(fd, buf, bytes) != (ssize_t)bytes || fsync(fd) != 0 || close(fd) != 0)
			die("write");
		if (renameat(dirfd, ".floor.tmp", dirfd, ".floor.ini") != 0 || fsync(dirfd) != 0)
			die("rename");
		lat[i] = bench_now_us() - t;
	}
	(void)unlinkat(dirfd, ".floor.ini", 0);
	/* the new floor: 64 bytes in place, alternating between two sectors
	 * of a file laid out beforehand, then fdatasync */
	sfd = openat(dirfd, ".floor.state", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sfd < 0)
		die("create state");
	{
		static char zeros[512 + 64];
		if (pwrite(sfd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros) || fsync(sfd) != 0)
			die("lay out state");
	}
	for (unsigned i = 0; i < iters; i++) {
		char rec[64];
		memset(rec, (int)(i & 0xff), sizeof(rec));
		t = bench_now_us();
		if (pwrite(sfd, rec, sizeof(rec), (off_t)(i & 1u) * 512) != (ssize_t)sizeof(rec) ||
		    fdatasync(sfd) != 0)
			die("write state");
		ip[i] = bench_now_us() - t;
	}
	close(sfd);
	(void)unlinkat(dirfd, ".floor.state", 0);
	/* the floor: the same write, each time into another file laid out
	 * (and flushed) beforehand, visited in a scrambled order as logins
	 * visit accounts; opened beforehand, since opening is the module's
	 * own cost */
	for (unsigned i = 0; i < iters; i++) {
		static char zeros[512 + 64];
		char name[32];

		snprintf(name, sizeof(name), ".floor.%u", i);
		fds[i] = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fds[i] < 0)
			die("create state files (raise ulimit -n?)");
		if (pwrite(fds[i], zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros) || fsync(fds[i]) != 0)
			die("lay out state files");
	}
	{
		/* a clock tick or more after the layout, so every write below
		 * changes its file's mtime, as a login's does */
		struct timespec tick = { 0, 50 * 1000 * 1000 };
		nanosleep(&tick, NULL);
	}
	for (unsigned i = 0; i < iters; i++) {
		/* 7919 is prime, so this visits every file once unless iters is
		 * a multiple of it */
		unsigned k = iters % 7919u == 0 ? i : (unsigned)(((uint64_t)i * 7919u) % iters);
		char rec[64];

		memset(rec, (int)(i & 0xff), sizeof(rec));
		t = bench_now_us();
		if (pwrite(fds[k], rec, sizeof(rec), 0) != (ssize_t)sizeof(rec) || fdatasync(fds[k]) != 0)
			die("write state file");
		pf[i] = bench_now_us() - t;
	}
	for (unsigned i = 0; i < iters; i++) {
		char name[32];

		close(fds[i]);
		snprintf(name, sizeof(name), ".floor.%u", i);
		(void)unlinkat(dirfd, name, 0);
	}
	bench_secret(0, key);
	for (unsigned i = 0; i < hmac_iters; i++) {
		int64_t step;
		t = bench_now_us();
		/* a wrong code: all three HMACs computed, no early exit anyway */
		(void)tp_totp_verify(key, sizeof(key), &p, 1700000000 + (int64_t)i * 30, 1,
				     "000000", -1, &step);
		hl[i] = bench_now_us() - t;
	}
	qsort(lat, iters, sizeof(*lat), bench_cmp_double);
	qsort(ip, iters, sizeof(*ip), bench_cmp_double);
	qsort(pf, iters, sizeof(*pf), bench_cmp_double);
	qsort(hl, hmac_iters, sizeof(*hl), bench_cmp_double);
	printf("FLOOR bytes=%zu write_p50_us=%.1f write_p99_us=%.1f inplace_p50_us=%.1f "
	       "inplace_p99_us=%.1f perfile_p50_us=%.1f perfile_p99_us=%.1f "
	       "hmac_window_p50_us=%.2f old_floor_p50_us=%.1f floor_p50_us=%.1f\n",
	       bytes, lat[iters / 2], lat[iters * 99 / 100], ip[iters / 2], ip[iters * 99 / 100],
	       pf[iters / 2], pf[iters * 99 / 100], hl[hmac_iters / 2],
	       lat[iters / 2] + hl[hmac_iters / 2], pf[iters / 2] + hl[hmac_iters / 2]);
	free(buf);
	free(lat);
	free(ip);
	free(pf);
	free(fds);
	free(hl);
	close(dirfd);
	return 0;
}
