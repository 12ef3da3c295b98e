/*
 * kbench: O_DIRECT block-device benchmark for the keel Linux guest kit (arm64 Linux user space,
 * freestanding: raw syscalls, no libc; built by guests/linux/build-kit.sh).
 *
 *   kbench NAME seqread|seqwrite|randread|randwrite DEV BS COUNT [SEED]
 *
 * Does COUNT requests of BS bytes, one at a time (queue depth 1), with pread/pwrite on DEV
 * opened O_DIRECT: sequential from offset 0, or at pseudo-random BS-aligned offsets over the
 * whole device (deterministic for a SEED). Writes end with fsync, which is timed too.
 * Prints one line: "KEEL-BENCH NAME <MB/s with one decimal> MB/s" (seq*) or
 * "KEEL-BENCH NAME <IOPS> IOPS" (rand*). MB = 10^6 bytes. Exit status 0 on success.
 */
typedef unsigned long u64;
typedef long s64;

#define NR_OPENAT	 56
#define NR_CLOSE	 57
#define NR_LSEEK	 62
#define NR_WRITE	 64
#define NR_PREAD64	 67
#define NR_PWRITE64	 68
#define NR_FSYNC	 82
#define NR_EXIT		 93
#define NR_CLOCK_GETTIME 113
#define AT_FDCWD	 (-100)
#define O_RDONLY	 0
#define O_RDWR		 2
#define O_DIRECT	 0x10000 /* arm64 */
#define SEEK_END	 2
#define CLOCK_MONOTONIC	 1
#define MAX_BS		 (1UL << 20)

static unsigned char buf[MAX_BS] __attribute__((aligned(4096)));

static s64 sys4(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}

void *memset(void *d, int c, u64 n);
void *memset(void *d, int c, u64 n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

static u64 slen(const char *s)
{
	u64 n = 0;
	while (s[n])
		n++;
	return n;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void out(const char *s)
{
	sys4(NR_WRITE, 1, (long)s, (long)slen(s), 0);
}

static void err(const char *s)
{
	sys4(NR_WRITE, 2, (long)s, (long)slen(s), 0);
}

static __attribute__((noreturn)) void die(const char *a, const char *b)
{
	err("kbench: ");
	err(a);
	err(b);
	err("\n");
	sys4(NR_EXIT, 1, 0, 0, 0);
	__builtin_unreachable();
}

/* decimal, optional K/M suffix (binary) */
static u64 num(const char *s)
{
	u64 v = 0;
	if (!*s)
		die("bad number: ", s);
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (u64)(*s - '0');
	if (*s == 'K' || *s == 'k')
		v <<= 10, s++;
	else if (*s == 'M' || *s == 'm')
		v <<= 20, s++;
	if (*s)
		die("bad number suffix: ", s);
	return v;
}

static char *fmt(char *end, u64 v)
{
	*--end = 0;
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

static u64 now_ns(void)
{
	s64 ts[2];
	sys4(NR_CLOCK_GETTIME, CLOCK_MONOTONIC, (long)ts, 0, 0);
	return (u64)ts[0] * 1000000000UL + (u64)ts[1];
}

static int kmain(int argc, char **argv)
{
	if (argc < 6)
		die("usage: kbench NAME seqread|seqwrite|randread|randwrite DEV BS COUNT [SEED]", "");
	const char *name = argv[1], *mode = argv[2], *dev = argv[3];
	u64 bs = num(argv[4]), count = num(argv[5]), seed = argc > 6 ? num(argv[6]) : 1;
	int seq = streq(mode, "seqread") || streq(mode, "seqwrite");
	int wr = streq(mode, "seqwrite") || streq(mode, "randwrite");
	if (!seq && !wr && !streq(mode, "randread"))
		die("bad mode: ", mode);
	if (bs < 512 || bs > MAX_BS || (bs & 511))
		die("BS must be a multiple of 512 up to 1M: ", argv[4]);

	s64 fd = sys4(NR_OPENAT, AT_FDCWD, (long)dev, (wr ? O_RDWR : O_RDONLY) | O_DIRECT, 0);
	if (fd < 0)
		die("cannot open O_DIRECT: ", dev);
	s64 size = sys4(NR_LSEEK, fd, 0, SEEK_END, 0);
	u64 blocks = size > 0 ? (u64)size / bs : 0;
	if (!blocks || (seq && count > blocks))
		die("device too small: ", dev);
	for (u64 i = 0; i < bs; i++)
		buf[i] = (unsigned char)(i * 131 + 7);

	u64 x = seed * 2654435761UL + 1;
	u64 t0 = now_ns();
	for (u64 i = 0; i < count; i++) {
		u64 blk = i;
		if (!seq) {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			blk = (x >> 17) % blocks;
		}
		s64 r = sys4(wr ? NR_PWRITE64 : NR_PREAD64, fd, (long)buf, (long)bs, (long)(blk * bs));
		if (r != (s64)bs)
			die(wr ? "write failed on " : "read failed on ", dev);
	}
	if (wr && sys4(NR_FSYNC, fd, 0, 0, 0) != 0)
		die("fsync failed on ", dev);
	u64 ns = now_ns() - t0;
	sys4(NR_CLOSE, fd, 0, 0, 0);
	if (!ns)
		ns = 1;

	char line[128], nb[32], *p = line;
	const char *parts[6];
	int n = 0;
	parts[n++] = "KEEL-BENCH ";
	parts[n++] = name;
	parts[n++] = " ";
	if (seq) {
		u64 mb10 = bs * count * 10000UL / ns; /* MB/s * 10 = bytes/ns * 10^4 */
		char *ip = fmt(nb + 20, mb10 / 10);
		nb[19] = '.';
		nb[20] = (char)('0' + mb10 % 10);
		nb[21] = 0;
		parts[n++] = ip;
		parts[n++] = " MB/s\n";
	} else {
		parts[n++] = fmt(nb + 20, count * 1000000000UL / ns);
		parts[n++] = " IOPS\n";
	}
	for (int i = 0; i < n; i++)
		for (const char *s = parts[i]; *s && p < line + sizeof(line) - 1; s++)
			*p++ = *s;
	*p = 0;
	out(line);
	return 0;
}

void kstart(long *sp);
__attribute__((used, noreturn)) void kstart(long *sp)
{
	sys4(NR_EXIT, kmain((int)sp[0], (char **)(sp + 1)), 0, 0, 0);
	__builtin_unreachable();
}

__asm__(".globl _start\n_start:\n\tmov x0, sp\n\tbl kstart\n");
