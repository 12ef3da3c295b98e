/*
 * kbench: O_DIRECT block-device benchmark for the keel Linux guest kit (arm64 Linux user space,
 * freestanding: raw syscalls, no libc; built by guests/linux/build-kit.sh).
 *
 *   kbench NAME seqread|seqwrite|randread|randwrite DEV BS COUNT [SEED [QD [SECS]]]
 *
 * Classic form (no QD): COUNT requests of BS bytes, one at a time (queue depth 1), with
 * pread/pwrite on DEV opened O_DIRECT: sequential from offset 0, or at pseudo-random BS-aligned
 * offsets over the whole device (deterministic for a SEED). Writes end with fsync, which is timed
 * too. Prints one line: "KEEL-BENCH NAME <MB/s with two decimals> MB/s" (seq*) or
 * "KEEL-BENCH NAME <IOPS> IOPS" (rand*). MB = 10^6 bytes. Exit status 0 on success.
 *
 * Timed form (QD given, 1..64, QD * BS <= 1 MiB): keeps QD requests in flight (QD 1: pread/pwrite
 * as above; QD > 1: Linux AIO through raw io_setup/io_submit/io_getevents), times every request
 * from its submission to its reaping, and stops after COUNT completions or SECS seconds, whichever
 * comes first (0: no limit of that kind; not both 0). At the time limit it stops submitting and
 * waits for what is in flight. Prints "KEEL-BENCH NAME <IOPS> IOPS" (MB/s for seq*), then
 * "KEEL-BENCH NAME_p50 <us> us", "NAME_p99", "NAME_max" (one decimal; nearest rank over every
 * request, or the first 1M), "KEEL-BENCH NAME_ios <n> ops" and "KEEL-BENCH NAME_secs <s> s".
 */
typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef unsigned short u16;

#define NR_IO_SETUP	 0
#define NR_IO_DESTROY	 1
#define NR_IO_SUBMIT	 2
#define NR_IO_GETEVENTS	 4
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
#define MAX_QD		 64
#define MAX_SAMPLES	 (1UL << 20)
#define IOCB_CMD_PREAD	 0
#define IOCB_CMD_PWRITE	 1

/* Linux's struct iocb and struct io_event (include/uapi/linux/aio_abi.h, little-endian layout). */
struct iocb {
	u64 aio_data;
	u32 aio_key, aio_rw_flags;
	u16 aio_lio_opcode;
	short aio_reqprio;
	u32 aio_fildes;
	u64 aio_buf, aio_nbytes;
	s64 aio_offset;
	u64 aio_reserved2;
	u32 aio_flags, aio_resfd;
};
struct io_event {
	u64 data, obj;
	s64 res, res2;
};

static unsigned char buf[MAX_BS] __attribute__((aligned(4096)));
static u64 lat_ns[MAX_SAMPLES];

static s64 sys6(long n, long a, long b, long c, long d, long e)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
	return x0;
}

static s64 sys4(long n, long a, long b, long c, long d)
{
	return sys6(n, a, b, c, d, 0);
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

/* "KEEL-BENCH NAME<suffix> <v / 10^decimals>[.<the decimals>] <unit>\n" */
static void report(const char *name, const char *suffix, u64 v, unsigned decimals, const char *unit)
{
	char line[160], nb[32], *p = line;
	u64 scale = 1;
	for (unsigned i = 0; i < decimals; i++)
		scale *= 10;
	char *ip = fmt(nb + 20, v / scale);
	if (decimals) {
		u64 f = v % scale;
		nb[19] = '.';
		for (unsigned i = decimals; i > 0; i--, f /= 10)
			nb[19 + i] = (char)('0' + f % 10);
		nb[20 + decimals] = 0;
	}
	const char *parts[] = {"KEEL-BENCH ", name, suffix, " ", ip, " ", unit, "\n"};
	for (unsigned i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (const char *s = parts[i]; *s && p < line + sizeof(line) - 1; s++)
			*p++ = *s;
	*p = 0;
	out(line);
}

static u64 now_ns(void)
{
	s64 ts[2];
	sys4(NR_CLOCK_GETTIME, CLOCK_MONOTONIC, (long)ts, 0, 0);
	return (u64)ts[0] * 1000000000UL + (u64)ts[1];
}

/* In-place heapsort (no libc); n is at most MAX_SAMPLES. */
static void sift(u64 *a, u64 i, u64 n)
{
	for (;;) {
		u64 c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[i] >= a[c])
			return;
		u64 t = a[i];
		a[i] = a[c];
		a[c] = t;
		i = c;
	}
}

static void sort(u64 *a, u64 n)
{
	for (u64 i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (u64 end = n; end > 1; end--) {
		u64 t = a[0];
		a[0] = a[end - 1];
		a[end - 1] = t;
		sift(a, 0, end - 1);
	}
}

/* Nearest-rank percentile (pct in 0.1 %) of the sorted a[0..n), in 0.1 us. */
static u64 pctl_10us(const u64 *a, u64 n, u64 pct10)
{
	u64 rank = (pct10 * n + 999) / 1000;
	return a[rank ? rank - 1 : 0] / 100;
}

struct job {
	const char *dev;
	s64 fd;
	u64 bs, blocks, x, next;
	int seq, wr;
};

static u64 next_block(struct job *j)
{
	if (j->seq)
		return j->next++ % j->blocks;
	j->x = j->x * 6364136223846793005UL + 1442695040888963407UL;
	return (j->x >> 17) % j->blocks;
}

static u64 nsamples;

static void sample(u64 ns)
{
	if (nsamples < MAX_SAMPLES)
		lat_ns[nsamples++] = ns;
}

/* QD 1 with per-request timing: the classic syscalls. Returns completions. */
static u64 run_sync(struct job *j, u64 count, u64 deadline)
{
	u64 done = 0;
	while ((!count || done < count) && (!deadline || now_ns() < deadline)) {
		u64 t = now_ns();
		s64 r = sys4(j->wr ? NR_PWRITE64 : NR_PREAD64, j->fd, (long)buf, (long)j->bs,
			     (long)(next_block(j) * j->bs));
		if (r != (s64)j->bs)
			die(j->wr ? "write failed on " : "read failed on ", j->dev);
		sample(now_ns() - t);
		done++;
	}
	return done;
}

/* QD > 1 through Linux AIO; slot i uses buf + i * bs. Returns completions. */
static u64 run_aio(struct job *j, u64 qd, u64 count, u64 deadline)
{
	static struct iocb cb[MAX_QD];
	static struct iocb *ptr[MAX_QD];
	static struct io_event ev[MAX_QD];
	static u64 t_sub[MAX_QD];
	u64 freelist[MAX_QD], nfree = 0, inflight = 0, submitted = 0, done = 0, ctx = 0;

	if (sys4(NR_IO_SETUP, (long)qd, (long)&ctx, 0, 0) != 0)
		die("io_setup failed (no AIO in this kernel?) for ", j->dev);
	for (u64 i = qd; i-- > 0;)
		freelist[nfree++] = i;
	for (;;) {
		int stop = (count && submitted >= count) || (deadline && now_ns() >= deadline);
		u64 n = 0;
		while (!stop && nfree && (!count || submitted + n < count)) {
			u64 s = freelist[--nfree];
			cb[s] = (struct iocb){.aio_data = s,
					      .aio_lio_opcode = j->wr ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
					      .aio_fildes = (u32)j->fd,
					      .aio_buf = (u64)(buf + s * j->bs),
					      .aio_nbytes = j->bs,
					      .aio_offset = (s64)(next_block(j) * j->bs)};
			ptr[n++] = &cb[s];
		}
		if (n) {
			u64 t = now_ns();
			for (u64 i = 0; i < n; i++)
				t_sub[ptr[i]->aio_data] = t;
			s64 r = sys4(NR_IO_SUBMIT, (long)ctx, (long)n, (long)ptr, 0);
			if (r != (s64)n) /* a partial submit only happens on error: treat it as one */
				die("io_submit failed on ", j->dev);
			submitted += n;
			inflight += n;
		}
		if (!inflight)
			break;
		/* Wake at least once a second so the time limit is seen while requests are slow. */
		s64 ts[2] = {1, 0};
		s64 got = sys6(NR_IO_GETEVENTS, (long)ctx, 1, (long)qd, (long)ev, (long)ts);
		if (got < 0 && got != -4 /* EINTR */)
			die("io_getevents failed on ", j->dev);
		u64 t = now_ns();
		for (s64 i = 0; i < got; i++) {
			u64 s = ev[i].data;
			if (s >= qd || ev[i].res != (s64)j->bs)
				die(j->wr ? "write failed on " : "read failed on ", j->dev);
			sample(t - t_sub[s]);
			freelist[nfree++] = s;
			inflight--;
			done++;
		}
	}
	sys4(NR_IO_DESTROY, (long)ctx, 0, 0, 0);
	return done;
}

static int kmain(int argc, char **argv)
{
	if (argc < 6)
		die("usage: kbench NAME seqread|seqwrite|randread|randwrite DEV BS COUNT [SEED [QD [SECS]]]", "");
	const char *name = argv[1], *mode = argv[2];
	struct job j = {.dev = argv[3], .bs = num(argv[4])};
	u64 count = num(argv[5]), seed = argc > 6 ? num(argv[6]) : 1;
	int timed = argc > 7;
	u64 qd = timed ? num(argv[7]) : 1, secs = argc > 8 ? num(argv[8]) : 0;
	j.seq = streq(mode, "seqread") || streq(mode, "seqwrite");
	j.wr = streq(mode, "seqwrite") || streq(mode, "randwrite");
	if (!j.seq && !j.wr && !streq(mode, "randread"))
		die("bad mode: ", mode);
	if (j.bs < 512 || j.bs > MAX_BS || (j.bs & 511))
		die("BS must be a multiple of 512 up to 1M: ", argv[4]);
	if (timed && (qd < 1 || qd > MAX_QD || qd * j.bs > MAX_BS))
		die("QD must be 1..64 with QD * BS <= 1M: ", argv[7]);
	if (timed && !count && !secs)
		die("COUNT and SECS cannot both be 0", "");

	j.fd = sys4(NR_OPENAT, AT_FDCWD, (long)j.dev, (j.wr ? O_RDWR : O_RDONLY) | O_DIRECT, 0);
	if (j.fd < 0)
		die("cannot open O_DIRECT: ", j.dev);
	s64 size = sys4(NR_LSEEK, j.fd, 0, SEEK_END, 0);
	j.blocks = size > 0 ? (u64)size / j.bs : 0;
	if (!j.blocks || (j.seq && !timed && count > j.blocks))
		die("device too small: ", j.dev);
	for (u64 i = 0; i < MAX_BS; i++)
		buf[i] = (unsigned char)(i * 131 + 7);

	j.x = seed * 2654435761UL + 1;
	u64 t0 = now_ns(), done = count;
	if (!timed) {
		for (u64 i = 0; i < count; i++) {
			s64 r = sys4(j.wr ? NR_PWRITE64 : NR_PREAD64, j.fd, (long)buf, (long)j.bs,
				     (long)(next_block(&j) * j.bs));
			if (r != (s64)j.bs)
				die(j.wr ? "write failed on " : "read failed on ", j.dev);
		}
	} else {
		u64 deadline = secs ? t0 + secs * 1000000000UL : 0;
		done = qd == 1 ? run_sync(&j, count, deadline) : run_aio(&j, qd, count, deadline);
	}
	if (j.wr && sys4(NR_FSYNC, j.fd, 0, 0, 0) != 0)
		die("fsync failed on ", j.dev);
	u64 ns = now_ns() - t0;
	sys4(NR_CLOSE, j.fd, 0, 0, 0);
	if (!ns)
		ns = 1;

	if (j.seq)
		report(name, "", j.bs * done * 100000UL / ns, 2, "MB/s"); /* MB/s * 100 = bytes/ns * 10^5 */
	else
		report(name, "", done * 1000000000UL / ns, 0, "IOPS");
	if (timed) {
		if (!nsamples)
			die("no request completed on ", j.dev);
		sort(lat_ns, nsamples);
		report(name, "_p50", pctl_10us(lat_ns, nsamples, 500), 1, "us");
		report(name, "_p99", pctl_10us(lat_ns, nsamples, 990), 1, "us");
		report(name, "_max", lat_ns[nsamples - 1] / 100, 1, "us");
		report(name, "_ios", done, 0, "ops");
		report(name, "_secs", ns / 100000000UL, 1, "s");
	}
	return 0;
}

void kstart(long *sp);
__attribute__((used, noreturn)) void kstart(long *sp)
{
	sys4(NR_EXIT, kmain((int)sp[0], (char **)(sp + 1)), 0, 0, 0);
	__builtin_unreachable();
}

__asm__(".globl _start\n_start:\n\tmov x0, sp\n\tbl kstart\n");
