// int80setuid calls the old 16-bit setresuid of the ia32 table through
// int $0x80: setresuid16(-1, 65534, -1), where -1 is 0xffff.
static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory");
	return ret;
}

int main(void)
{
	return int80(164, 0xffff, 65534, 0xffff) == 0 ? 0 : 1;
}
