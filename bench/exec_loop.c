// exec_loop starts /bin/true (fork + execve + wait) as fast as it can for the
// given number of seconds, then prints "<execs> <seconds>".
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	char *child[] = {"true", NULL};
	double start = now(), end = start + secs, t = start;
	unsigned long n = 0;

	while (t < end) {
		pid_t pid;
		int status;
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, child, environ) != 0) {
			perror("posix_spawn");
			return 1;
		}
		if (waitpid(pid, &status, 0) < 0) {
			perror("waitpid");
			return 1;
		}
		n++;
		t = now();
	}
	printf("%lu %.6f\n", n, t - start);
	return 0;
}
