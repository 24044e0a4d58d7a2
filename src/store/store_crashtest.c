/*
 * store_crashtest.c: a test-only driver for tests/test_store_crash.py.
 *
 *   store_crashtest deliver DIR START   delivers messages START, START+1, ...
 *                                       to account "crash" forever, printing
 *                                       "ok SEQ UID" after each one returns
 *   store_crashtest verify DIR          runs store_verify (moving orphans
 *                                       aside), then reads every message
 *                                       back and compares it with what
 *                                       delivery SEQ must have written;
 *                                       prints "have SEQ UID" or "bad ...",
 *                                       exits 0 only if all is intact
 *
 * The test kills `deliver` at random moments; every "ok" message must then be
 * present and whole (DESIGN.md "Storage": durability before the answer).
 * Not installed.
 */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Message sizes vary from a few bytes to this, so that kills land inside
 * writes as well as inside commits. */
#define CRASH_BODY_MAX 200000

static size_t gen(uint64_t seq, char *out)
{
	size_t n = (size_t)snprintf(out, 128, "X-Seq: %" PRIu64 "\r\nSubject: crash\r\n\r\n", seq);
	size_t body = (size_t)((seq * 7919) % CRASH_BODY_MAX);
	for (size_t i = 0; i < body; i++)
		out[n++] = (i % 78 == 77) ? '\n' : (char)('a' + (seq + i) % 26);
	return n;
}

static int deliver_one(struct store_account *a, uint64_t seq, char *msg, uint32_t *uid)
{
	size_t len = gen(seq, msg);
	char hdr[64], body[32];
	snprintf(hdr, sizeof(hdr), "Received: crash %" PRIu64 "\r\n", seq);
	snprintf(body, sizeof(body), "crashbody%" PRIu64, seq);
	struct store_delivery d = {.added_headers = hdr, .subject = "crash", .fts_body = body,
	                           .keywords = seq % 3 == 0 ? "$Crash" : NULL};
	struct store_delivered res;
	struct error err;
	int r;
	if (seq % 2 == 0) {
		r = store_deliver(a, &d, msg, len, &res, &err);
	} else {
		/* from a descriptor, as SMTP DATA spooled to a file is */
		int fd = memfd_create("msg", MFD_CLOEXEC);
		r = fd < 0 || write(fd, msg, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0 ? -1
		        : store_deliver_fd(a, &d, fd, &res, &err);
		if (fd >= 0)
			close(fd);
	}
	if (r != 0) {
		fprintf(stderr, "deliver %" PRIu64 ": %s\n", seq, err.msg);
		return -1;
	}
	*uid = res.uid;
	return 0;
}

static int cmd_deliver(struct store_account *a, uint64_t seq)
{
	char *msg = malloc(CRASH_BODY_MAX + 128);
	if (msg == NULL)
		return 1;
	for (;; seq++) {
		uint32_t uid;
		if (deliver_one(a, seq, msg, &uid) != 0)
			return 1;
		printf("ok %" PRIu64 " %u\n", seq, uid);
		fflush(stdout);
	}
}

struct check {
	struct store_account *acct;
	int64_t mbox;
	char *want, *got;
	int bad;
};

static int read_all(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static const char *check_msg(struct check *c, const struct store_msginfo *m, uint64_t *seq)
{
	struct arena *ar = arena_new(1024, ARENA_PLAIN);
	struct store_msgfile f;
	struct error err;
	const char *why = NULL;
	if (store_msg_open(c->acct, c->mbox, m->uid, ar, &f, &err) != 0) {
		arena_free(&ar);
		return "cannot open";
	}
	if (f.file_size > CRASH_BODY_MAX + 128 || read_all(f.fd, c->got, f.file_size) != 0)
		why = "short file";
	else if (sscanf(c->got, "X-Seq: %" SCNu64, seq) != 1)
		why = "no X-Seq";
	else if (gen(*seq, c->want) != f.file_size || memcmp(c->want, c->got, f.file_size) != 0)
		why = "content differs";
	else if (m->size != f.file_size + f.prefix_len || strncmp(f.prefix, "Received: crash ", 16))
		why = "size or added headers differ";
	close(f.fd);
	arena_free(&ar);
	return why;
}

static int check_cb(void *ctx, const struct store_msginfo *m)
{
	struct check *c = ctx;
	uint64_t seq = 0;
	const char *why = check_msg(c, m, &seq);
	if (why != NULL) {
		printf("bad uid %u: %s\n", m->uid, why);
		c->bad++;
	} else {
		printf("have %" PRIu64 " %u\n", seq, m->uid);
	}
	return 0;
}

static int cmd_verify(struct store_account *a)
{
	struct store_verify_opts opts = {.fix = true, .min_orphan_age = 0};
	struct store_verify_report rep;
	struct error err;
	if (store_verify(a, &opts, &rep, &err) != 0) {
		fprintf(stderr, "verify: %s\n", err.msg);
		return 1;
	}
	printf("verify db_ok=%d messages=%" PRIu64 " files=%" PRIu64 " missing=%" PRIu64
	       " bad_size=%" PRIu64 " orphans=%" PRIu64 " moved=%" PRIu64 " bad_counts=%" PRIu64
	       "\n", rep.db_ok, rep.messages, rep.files, rep.missing, rep.bad_size, rep.orphans,
	       rep.moved, rep.bad_counts);
	fputs(rep.text.data, stdout);
	bool ok = store_verify_ok(&rep);
	store_verify_report_free(&rep);
	struct store_mailbox mb;
	struct check c = {.acct = a, .want = malloc(CRASH_BODY_MAX + 128),
	                  .got = malloc(CRASH_BODY_MAX + 128)};
	if (store_mailbox_status(a, "Inbox", NULL, &mb, &err) != 0 || c.want == NULL ||
	    c.got == NULL)
		return 1;
	c.mbox = mb.id;
	if (store_msg_list(a, mb.id, NULL, 0, 0, check_cb, &c, &err) != 0) {
		fprintf(stderr, "list: %s\n", err.msg);
		return 1;
	}
	printf("uidnext %u messages %" PRIu64 "\n", mb.uidnext, mb.messages);
	free(c.want);
	free(c.got);
	return ok && c.bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "deliver") == 0 && argc != 4)) {
		fprintf(stderr, "usage: store_crashtest deliver DIR START | verify DIR\n");
		return 2;
	}
	struct store_account *a;
	struct error err;
	if (store_open(argv[2], "crash", &a, &err) != 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 1;
	}
	int r = strcmp(argv[1], "verify") == 0 ? cmd_verify(a)
	                                        : cmd_deliver(a, strtoull(argv[3], NULL, 10));
	store_close(&a);
	return r;
}
