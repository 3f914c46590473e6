// int80 makes 32-bit system calls from a 64-bit process with int $0x80,
// the way a program hides its calls from tools that watch only the 64-bit
// table. It is built static and not position independent, so that its
// strings sit below 4 GiB where 32-bit pointers reach them.
//
//   int80 PATH EXE: open(PATH), openat(AT_FDCWD, PATH), socketcall(connect)
//   to 127.0.0.1:PORT taken from argv[3], execve of a missing file, then
//   execve(EXE).
#include <stdlib.h>
#include <string.h>

static char path[4096];
static char exe[4096];
static char missing[] = "/nonexistent/nightjar-int80";
static unsigned int argv32[2];
static unsigned int envp32[1];
static unsigned int sockargs[3];
static unsigned char sin[16];

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
	if (argc < 4)
		return 2;
	strncpy(path, argv[1], sizeof(path) - 1);
	strncpy(exe, argv[2], sizeof(exe) - 1);
	int port = atoi(argv[3]);

	long fd = int80(5, (long)path, 0, 0); // open(path, O_RDONLY)
	if (fd >= 0)
		int80(6, fd, 0, 0); // close
	fd = int80(295, -100, (long)path, 0); // openat(AT_FDCWD, path, O_RDONLY)
	if (fd >= 0)
		int80(6, fd, 0, 0);

	long s = int80(359, 2, 1, 0); // socket(AF_INET, SOCK_STREAM, 0)
	sin[0] = 2; // AF_INET, little endian
	sin[2] = port >> 8;
	sin[3] = port & 0xff;
	sin[4] = 127;
	sin[7] = 1;
	sockargs[0] = s;
	sockargs[1] = (unsigned int)(unsigned long)sin;
	sockargs[2] = sizeof(sin);
	int80(102, 3, (long)sockargs, 0); // socketcall(SYS_CONNECT, args)

	argv32[0] = (unsigned int)(unsigned long)missing;
	int80(11, (long)missing, (long)argv32, (long)envp32); // fails: ENOENT
	argv32[0] = (unsigned int)(unsigned long)exe;
	int80(11, (long)exe, (long)argv32, (long)envp32);
	return 1;
}
