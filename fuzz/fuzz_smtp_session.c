/*
 * fuzz_smtp_session.c: libFuzzer target for a whole SMTP server session
 * (src/smtpserver/session.c) with no network: the input is what a client
 * sends, through one end of a socketpair; a thread writes it and drains the
 * replies. The first byte picks the mode (receiving or submission).
 *
 * The backend accepts recipients unless the local part starts with "x",
 * and checks what the session hands it: a delivered message has only CRLF
 * line endings and no NUL, its size is what the spool says and within the
 * limit, and every recipient in the transaction was accepted.
 */
#include "smtpserver/smtpserver.h"

#include "core/conn.h"
#include "core/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FUZZ_MSG_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void rcpt(void *ctx, const struct smtpserver_txn *t, struct smtpserver_rcpt *r,
                 struct smtpserver_reply *reply)
{
	if (r->path.addr.local[0] == 'x')
		smtpserver_reply_set(reply, 550, "5.1.1", "No such user");
	r->data = (void *)1;
}

static void deliver(void *ctx, const struct smtpserver_txn *t, const char *received,
                    struct smtpserver_spool *msg, struct smtpserver_reply *reply)
{
	check(t->nrcpts > 0);
	for (size_t i = 0; i < t->nrcpts; i++)
		check(t->rcpts[i].data == (void *)1);
	check(strstr(received, "Received: ") == received);
	uint64_t size = smtpserver_spool_size(msg);
	check(size <= FUZZ_MSG_MAX);
	char buf[FUZZ_MSG_MAX + 1];
	struct error e;
	size_t got = 0;
	smtpserver_spool_rewind(msg);
	for (;;) {
		ssize_t n = smtpserver_spool_read(msg, buf + got, sizeof(buf) - got, &e);
		check(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	check(got == size);
	for (size_t i = 0; i < got; i++) {
		check(buf[i] != '\0');
		if (buf[i] == '\n')
			check(i > 0 && buf[i - 1] == '\r');
		if (buf[i] == '\r')
			check(i + 1 < got && buf[i + 1] == '\n');
	}
}

static int lookup(void *ctx, const char *username, struct sasl_credentials *creds_r)
{
	return 0;
}

static const struct smtpserver_backend backend = {
	.rcpt = rcpt, .deliver = deliver, .auth_lookup = lookup,
};

struct feeder {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* Sends the input, then reads replies until the session closes. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	size_t off = 0;
	while (off < f->size) {
		ssize_t n = send(f->fd, f->data + off, f->size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(f->fd, SHUT_WR);
	char sink[4096];
	while (read(f->fd, sink, sizeof(sink)) > 0)
		;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int sv[2];
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	struct feeder f = {sv[1], data + 1, size - 1};
	pthread_t t;
	check(pthread_create(&t, NULL, feed, &f) == 0);
	struct smtpserver_settings s = {
		.mode = data[0] & 1 ? SMTPSERVER_SUBMISSION : SMTPSERVER_RECEIVE,
		.hostname = "mx.example.test",
		.max_message_size = FUZZ_MSG_MAX,
		.max_recipients = 100,
		.pedantic = data[0] & 2,
		.idle_ms = 2000,
		.backend = &backend,
	};
	struct error e;
	struct conn *c = conn_new(sv[0], 12288, &e);
	check(c != NULL);
	smtpserver_session(c, NULL, -1, &s);
	conn_free(&c);
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
