/* The floor under an accepted login: the least a durable single-use record
 * needs -- one write of one block into an existing file and one data flush
 * (pwrite + fdatasync: what store_files.c state_write does per accepted
 * login, without locking, parsing or checks) -- plus the HMACs of one
 * verification window (tp_totp_verify, window ±1).  Beside it, the old
 * floor: a whole-file replacement (temp file, write, fsync, rename, fsync
 * the folder), what a login cost before the state record.
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
	double *lat, *ip, *hl, t;
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
	hl = malloc(hmac_iters * sizeof(*hl));
	if (buf == NULL || lat == NULL || ip == NULL || hl == NULL || iters == 0)
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
	qsort(hl, hmac_iters, sizeof(*hl), bench_cmp_double);
	printf("FLOOR bytes=%zu write_p50_us=%.1f write_p99_us=%.1f inplace_p50_us=%.1f "
	       "inplace_p99_us=%.1f hmac_window_p50_us=%.2f old_floor_p50_us=%.1f "
	       "floor_p50_us=%.1f\n", bytes, lat[iters / 2], lat[iters * 99 / 100],
	       ip[iters / 2], ip[iters * 99 / 100], hl[hmac_iters / 2],
	       lat[iters / 2] + hl[hmac_iters / 2], ip[iters / 2] + hl[hmac_iters / 2]);
	free(buf);
	free(lat);
	free(ip);
	free(hl);
	close(dirfd);
	return 0;
}
