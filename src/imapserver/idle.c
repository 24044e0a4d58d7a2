/*
 * idle.c: IDLE (RFC 2177, RFC 9051 §6.3.13). After "+ idling" the session
 * waits in poll() on the client's socket, the account's change notifier
 * and the server's cancel fd; changes of the selected mailbox are sent as
 * they happen (imapsrv_sync, expunges included), until the client's DONE.
 *
 * An idle session may wait for hours, and thousands may wait at once: while
 * waiting it gives back what its commands grew (buffers, the TLS record
 * buffers, the stack pages below the wait, free heap pages).
 */
#include "imapserver/imapserver.h"
#include "imapserver/internal.h"

#include "core/conn.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdatomic.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* How long one attempt to read the client's line may wait once the socket
 * was readable: TLS records that carry no data (a key update) or a DONE
 * sent in pieces must not stop the updates for long. The attempt is made
 * again, with the bytes already read kept, until IDLE's own limit. */
#define IDLE_READ_MS 2000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stack kept below the current frame when the rest is given back: room
 * for madvise's own frame (the pages it runs on must not be dropped) and
 * for the wait (poll, a signal frame) without page faults. */
#define IDLE_STACK_KEEP (4 * 1024)

/* Gives back the pages of this thread's stack below the current frame:
 * commands before IDLE (a login, SELECT, the store's queries) touched
 * them, and they would stay resident for as long as the session idles. */
static void release_stack(void)
{
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return;
	void *lo;
	size_t size;
	int r = pthread_attr_getstack(&attr, &lo, &size);
	pthread_attr_destroy(&attr);
	if (r != 0)
		return;
	volatile char here;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)lo + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)&here - IDLE_STACK_KEEP) & ~(page - 1);
	if (end > start && end - start < size)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/* At most one heap trim per this many milliseconds, for the whole process. */
#define IDLE_TRIM_MS 1000

/* Gives the free pages inside the heap back to the system: sessions that
 * went idle freed their buffers, which leaves holes in the heap that stay
 * resident until trimmed. A trim walks every malloc arena, so sessions
 * entering IDLE together trim once. */
static void trim_heap(void)
{
	static _Atomic int64_t last;
	int64_t now = now_ms(), prev = atomic_load(&last);
	if (now - prev < IDLE_TRIM_MS || !atomic_compare_exchange_strong(&last, &prev, now))
		return;
	malloc_trim(0);
}

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
	struct error e;
	if (conn_printf(s->c, &e, "* BYE %s\r\n", text) == 0)
		conn_flush(s->c, &e);
	return -1;
}

enum wake { WAKE_CLIENT, WAKE_CHANGE, WAKE_CANCEL, WAKE_TIMEOUT, WAKE_ERROR };

/* Waits for the client, a change or the cancel fd, until deadline. Input
 * already buffered counts as the client's, after changes are looked at. */
static enum wake wait_event(struct imapsrv_session *s, int64_t deadline)
{
	bool buffered = conn_in_buffered(s->c);
	struct pollfd p[3] = {
		{.fd = conn_fd(s->c), .events = POLLIN},
		{.fd = store_sub_fd(s->sub), .events = POLLIN},
		{.fd = s->cancel_fd, .events = POLLIN},
	};
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return WAKE_TIMEOUT;
		if (buffered)
			left = 0;
		int r = poll(p, s->cancel_fd >= 0 ? 3 : 2, left > INT_MAX ? INT_MAX : (int)left);
		if (r == 0 && buffered)
			return WAKE_CLIENT;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return WAKE_ERROR;
		if (r == 0)
			continue;
		if (s->cancel_fd >= 0 && p[2].revents != 0)
			return WAKE_CANCEL;
		if (p[1].revents != 0)
			return WAKE_CHANGE;
		return WAKE_CLIENT;
	}
}

int imapsrv_cmd_idle(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	struct error e;
	if (conn_printf(s->c, &e, "+ idling\r\n") != 0 || push_updates(s) != 0 ||
	    conn_flush(s->c, &e) != 0)
		return -1;
	unsigned limit = s->set->idle_cmd_ms != 0 ? s->set->idle_cmd_ms : IMAPSRV_IDLE_CMD_MS;
	int64_t deadline = now_ms() + limit;
	for (;;) {
		imapsrv_release_memory(s, true);
		release_stack();
		trim_heap();
		switch (wait_event(s, deadline)) {
		case WAKE_CHANGE:
			if (push_updates(s) != 0)
				return -1;
			continue;
		case WAKE_CANCEL:
			return bye(s, "server shutting down");
		case WAKE_TIMEOUT:  /* RFC 2177 §3, RFC 9051 §5.4 */
			return bye(s, "autologout: idle for too long");
		case WAKE_ERROR:
			return -1;
		case WAKE_CLIENT:
			break;
		}
		conn_set_idle_timeout(s->c, IDLE_READ_MS);
		if (imap_read_idle_done(s->c, &e) == 0) {
			imapsrv_result_set(r, "OK", NULL, "IDLE terminated");
			return 0;
		}
		if (e.kind == ERR_INVALID) {
			imapsrv_result_set(r, "BAD", NULL, "expected DONE to end IDLE");
			return 0;
		}
		if (e.kind == ERR_SHUTDOWN)
			return bye(s, "server shutting down");
		if (e.kind == ERR_TIMEOUT)  /* no whole line yet: wait again */
			continue;
		return -1;
	}
}
