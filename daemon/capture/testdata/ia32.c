// ia32 is a 32-bit (i386) program without a C library, so that it builds
// with a plain gcc (no multilib): it opens /etc/shadow with open and
// openat, then executes /bin/true.
static char shadow[] = "/etc/shadow";
static char exe[] = "/bin/true";
static char *argv[] = {exe, 0};
static char *envp[] = {0};

static long sys(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory");
	return ret;
}

void _start(void)
{
	sys(5, (long)shadow, 0, 0);           // open
	sys(295, -100, (long)shadow, 0);      // openat(AT_FDCWD, ...)
	sys(11, (long)exe, (long)argv, (long)envp); // execve
	sys(1, 1, 0, 0);                      // exit(1): the exec failed
}
