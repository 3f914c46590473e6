// sysloop MODE N makes N open/close pairs of /etc/hostname and prints the
// nanoseconds they took: MODE 64 through the 64-bit table (openat), MODE
// 32 through int $0x80 (the ia32 table's openat and close), MODE getpid
// N getppid calls, which the capture does not report.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>

static char path[] = "/etc/hostname";

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (strcmp(argv[1], "32") == 0) {
		for (long i = 0; i < n; i++) {
			long fd = int80(295, -100, (long)path, O_RDONLY);
			int80(6, fd, 0, 0);
		}
	} else if (strcmp(argv[1], "64") == 0) {
		for (long i = 0; i < n; i++) {
			long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
			syscall(SYS_close, fd);
		}
	} else {
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
	return 0;
}
