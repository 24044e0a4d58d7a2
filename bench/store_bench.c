/*
 * store_bench.c: deliveries per second into the message store.
 *
 *   store_bench [-nosync] [-accounts A] [-writers W] [-count N] [-size S] DIR
 *
 * W threads deliver N messages in all, of S bytes each, spread over A
 * accounts (writer i delivers to account i % A), through store_deliver, the
 * same durable path SMTP and IMAP APPEND use. -nosync turns durability off
 * (store_set_durable) to show what fsync costs. Prints one line:
 *   accounts=A writers=W count=N size=S sync=on|off seconds=T msgs_per_s=R
 */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Most accounts and writer threads. */
#define BENCH_MAX 256

struct job {
	struct store_account *acct;
	const char *msg;
	size_t len;
	long count;
	int failed;
};

static void *writer(void *p)
{
	struct job *j = p;
	struct store_delivery d = {.mailbox = "Inbox", .subject = "bench"};
	for (long i = 0; i < j->count; i++) {
		struct store_delivered res;
		struct error err;
		if (store_deliver(j->acct, &d, j->msg, j->len, &res, &err) != 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			j->failed = 1;
			break;
		}
	}
	return NULL;
}

static char *make_message(size_t size)
{
	char *m = malloc(size + 1);
	if (m == NULL)
		abort();
	size_t n = (size_t)snprintf(m, size + 1, "From: a@example.test\r\nSubject: bench\r\n\r\n");
	for (size_t i = n; i < size; i++)
		m[i] = (i % 78 == 77) ? '\n' : (i % 78 == 76 ? '\r' : 'x');
	return m;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long accounts = 1, writers = 10, count = 2000, size = 4096;
	bool sync = true;
	int i = 1;
	for (; i < argc - 1 && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-nosync") == 0)
			sync = false;
		else if (strcmp(argv[i], "-accounts") == 0)
			accounts = atol(argv[++i]);
		else if (strcmp(argv[i], "-writers") == 0)
			writers = atol(argv[++i]);
		else if (strcmp(argv[i], "-count") == 0)
			count = atol(argv[++i]);
		else if (strcmp(argv[i], "-size") == 0)
			size = atol(argv[++i]);
	}
	if (i != argc - 1 || accounts < 1 || writers < 1 || accounts > BENCH_MAX ||
	    writers > BENCH_MAX || count < writers || size < 64) {
		fprintf(stderr, "usage: store_bench [-nosync] [-accounts A] [-writers W] "
		                "[-count N] [-size S] DIR\n");
		return 2;
	}
	store_set_durable(sync);
	static struct store_account *accts[BENCH_MAX];
	for (long a = 0; a < accounts; a++) {
		char name[32];
		struct error err;
		snprintf(name, sizeof(name), "bench%ld", a);
		if (store_open(argv[i], name, &accts[a], &err) != 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			return 1;
		}
	}
	char *msg = make_message((size_t)size);
	static struct job jobs[BENCH_MAX];
	static pthread_t threads[BENCH_MAX];
	double t0 = now();
	for (long w = 0; w < writers; w++) {
		jobs[w] = (struct job){accts[w % accounts], msg, (size_t)size, count / writers, 0};
		pthread_create(&threads[w], NULL, writer, &jobs[w]);
	}
	int failed = 0;
	for (long w = 0; w < writers; w++) {
		pthread_join(threads[w], NULL);
		failed |= jobs[w].failed;
	}
	double secs = now() - t0;
	long done = (count / writers) * writers;
	printf("accounts=%ld writers=%ld count=%ld size=%ld sync=%s seconds=%.2f msgs_per_s=%.0f\n",
	       accounts, writers, done, size, sync ? "on" : "off", secs, (double)done / secs);
	for (long a = 0; a < accounts; a++)
		store_close(&accts[a]);
	free(msg);
	return failed;
}
