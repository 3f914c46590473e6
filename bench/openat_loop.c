// openat_loop opens and closes a file as fast as it can for the given number
// of seconds, then prints "<openat calls> <seconds>".
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); // vDSO: not a system call
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	const char *path = argc > 2 ? argv[2] : "/etc/hostname";
	double start = now(), end = start + secs, t = start;
	unsigned long n = 0;

	while (t < end) {
		for (int i = 0; i < 1024; i++) {
			int fd = openat(AT_FDCWD, path, O_RDONLY);
			if (fd < 0) {
				perror("openat");
				return 1;
			}
			close(fd);
		}
		n += 1024;
		t = now();
	}
	printf("%lu %.6f\n", n, t - start);
	return 0;
}
