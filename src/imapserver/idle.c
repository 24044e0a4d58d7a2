/*
 * idle.c: IDLE (RFC 2177, RFC 9051 §6.3.13). After "+ idling" the session
 * sends the changes of the selected mailbox as they happen (imapsrv_sync,
 * expunges included) until the client's DONE, then completes the command.
 *
 * An idle session may wait for hours, and thousands may wait at once. In
 * the services it parks (imapsrv_idle_park): its buffers are released and
 * its thread ends, and the listener resumes it in a new thread when the
 * client's socket or the account's change notifier is readable, when IDLE's
 * time is up or when the server stops (imapsrv_idle_wake). Without parking
 * (tests, a session on a pipe) it waits in poll() in its own thread.
 */
#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "core/clock.h"
#include "core/conn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long one attempt to read the client's line may wait once the socket
 * was readable: TLS records that carry no data (a key update) or a DONE
 * sent in pieces must not stop the updates for long. The attempt is made
 * again, with the bytes already read kept, until IDLE's own limit. */
#define IDLE_READ_MS 2000

/* Sends the pending updates (or just drains the notifier when no mailbox
 * is selected). Returns 0, or -1 when the connection broke. */
static int push_updates(struct imapsrv_session *s)
{
	struct error e;
	if (s->sel == NULL) {
		struct store_changes ch;
		store_sub_read(s->sub, &ch);
		return 0;
	}
	if (imapsrv_sync(s, true, false) != 0)
		return -1;
	return conn_flush(s->c, &e);
}

static int bye(struct imapsrv_session *s, const char *text)
{
	imapsrv_send_status(s, NULL, "BYE", NULL, text);
	return -1;
}

void imapsrv_idle_clear(struct imapsrv_session *s)
{
	free(s->idle.tag);
	s->idle.tag = NULL;
}

/* The tagged completion; IDLE is over. Returns -1 when the session ends
 * (broken, or too many bad commands). */
static int finish(struct imapsrv_session *s, const char *status, const char *text)
{
	bool bad = strcmp(status, "BAD") == 0;
	int r = imapsrv_send_status(s, s->idle.tag, status, NULL, text);
	imapsrv_idle_clear(s);
	if (r == 0 && bad && ++s->bad_count > IMAPSRV_BAD_MAX)
		return bye(s, "too many bad commands");
	return r;
}

int imapsrv_cmd_idle(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	struct error e;
	(void)r;  /* answered when IDLE ends (finish) */
	if (conn_printf(s->c, &e, "+ idling\r\n") != 0 || push_updates(s) != 0 ||
	    conn_flush(s->c, &e) != 0)
		return -1;
	s->idle.tag = strdup(cmd->tag);
	if (s->idle.tag == NULL)
		abort();
	unsigned limit = s->set->idle_cmd_ms != 0 ? s->set->idle_cmd_ms : IMAPSRV_IDLE_CMD_MS;
	s->idle.deadline = clock_mono_ms() + limit;
	return 0;
}

/* The client's socket was readable (or input is buffered): DONE ends IDLE;
 * a line still incomplete after IDLE_READ_MS leaves it idle. */
static int client_input(struct imapsrv_session *s)
{
	struct error e;
	conn_set_idle_timeout(s->c, IDLE_READ_MS);
	if (imap_read_idle_done(s->c, &e) == 0)
		return finish(s, "OK", "IDLE terminated");
	if (e.kind == ERR_INVALID)
		return finish(s, "BAD", "expected DONE to end IDLE");
	if (e.kind == ERR_SHUTDOWN)
		return bye(s, "server shutting down");
	if (e.kind == ERR_TIMEOUT)  /* no whole line yet: wait again */
		return 0;
	return -1;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

int imapsrv_idle_wake(struct imapsrv_session *s, enum imapsrv_wake why)
{
	if (s->sel != NULL && imapsrv_view_unpack(s->sel) != 0)
		return bye(s, "out of memory");
	if (why == IMAPSRV_WAKE_STOP)
		return bye(s, "server shutting down");
	/* RFC 2177 §3, RFC 9051 §5.4; checked on every wake, so that a
	 * client that sent half a line and went silent is not kept forever */
	if (clock_mono_ms() >= s->idle.deadline)
		return bye(s, "autologout: idle for too long");
	if (why == IMAPSRV_WAKE_TIMEOUT)
		return 0;
	/* changes first, so that what happened before DONE is reported */
	if (readable(store_sub_fd(s->sub)) && push_updates(s) != 0)
		return -1;
	if (conn_in_buffered(s->c) || readable(conn_fd(s->c)))
		return client_input(s);
	return 0;
}

bool imapsrv_idle_park(struct imapsrv_session *s, struct imapsrv_park *park)
{
	if (conn_in_buffered(s->c))
		return false;
	imapsrv_release_memory(s, true);
	if (s->sel != NULL)
		imapsrv_view_pack(s->sel);
	int64_t left = s->idle.deadline - clock_mono_ms();
	*park = (struct imapsrv_park){
		.fds = {conn_fd(s->c), store_sub_fd(s->sub)},
		.nfds = 2,
		.timeout_ms = left <= 0 ? 0 : left > UINT_MAX ? UINT_MAX : (unsigned)left,
	};
	return true;
}

int imapsrv_idle_wait(struct imapsrv_session *s)
{
	imapsrv_release_memory(s, true);
	bool buffered = conn_in_buffered(s->c);
	struct pollfd p[3] = {
		{.fd = conn_fd(s->c), .events = POLLIN},
		{.fd = store_sub_fd(s->sub), .events = POLLIN},
		{.fd = s->cancel_fd, .events = POLLIN},
	};
	for (;;) {
		int64_t left = s->idle.deadline - clock_mono_ms();
		if (left <= 0)
			return imapsrv_idle_wake(s, IMAPSRV_WAKE_TIMEOUT);
		if (buffered)
			left = 0;
		int r = poll(p, s->cancel_fd >= 0 ? 3 : 2, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 && !buffered)
			continue;
		if (s->cancel_fd >= 0 && p[2].revents != 0)
			return imapsrv_idle_wake(s, IMAPSRV_WAKE_STOP);
		return imapsrv_idle_wake(s, IMAPSRV_WAKE_READY);
	}
}
