/*
 * listener.h: TCP listening sockets and the thread-per-connection accept
 * loop shared by the mail protocols (DESIGN.md, process model).
 *
 * Sockets are bound while the process still has root (ports below 1024),
 * before privileges are dropped; accepting starts afterwards. Each accepted
 * connection gets its own detached thread with a small stack, after the
 * connlimit of the listener (total and per remote address) allowed it; a
 * refused connection is sent a fixed protocol line ("421 ..." for SMTP) and
 * closed without a thread.
 *
 * Parking: a session that will wait long for its peer (IMAP IDLE) may give
 * its thread back (listener_park). One thread per listener then watches the
 * descriptors of every parked session with epoll, and when one of them is
 * readable, its time is up or the listener stops, the session resumes in a
 * new thread. Thousands of idle sessions thus cost their heap state only,
 * not a thread stack each (DESIGN.md, process model).
 *
 * Stopping: the accept loop ends, and every session learns of it through a
 * cancel descriptor (conn_set_cancel_fd) that becomes readable, so sessions
 * waiting for a command end at once (SMTP answers 421). Sessions in the
 * middle of a transfer may finish within a grace period; after it their
 * sockets are shut down.
 */
#ifndef TERN_CORE_LISTENER_H
#define TERN_CORE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct connlimit;
struct error;

/* Stack size of a connection thread. Protocol code keeps its buffers on the
 * heap; OpenSSL and SQLite need well under this. */
#define LISTENER_STACK_SIZE (256 * 1024)

/* Opens a TCP socket listening on ip ("127.0.0.1", "::1", "0.0.0.0", "::")
 * and port, with SO_REUSEADDR (IPV6_V6ONLY for IPv6, so "::" and "0.0.0.0"
 * can be listened on side by side). Returns the fd, or -1 with e set naming
 * the address ("listen on [::1]:25: Address already in use") and errno set
 * (EADDRNOTAVAIL, EAFNOSUPPORT: the host has no such address or no IPv6). */
int listener_bind(const char *ip, int port, struct error *e);

/* Whether listener_bind(ip) failed with errno err because the host has no
 * IPv6 (or not that address): containers often run without IPv6, and
 * localserve, which listens on ::1 beside 127.0.0.1, starts all the same. */
bool listener_no_ipv6(const char *ip, int err);

/* A connection handed to a handler: the accepted socket (owned by the
 * handler from now on), the peer's address, and the descriptor that becomes
 * readable when the listener stops (for conn_set_cancel_fd; not owned). */
struct listener_conn {
	int fd;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int cancel_fd;
};

/* Runs one connection in its thread; must close lc->fd (conn_free does),
 * unless it called listener_park as its last act. */
typedef void listener_handler(void *ctx, const struct listener_conn *lc);

/* Why a parked session resumes. */
enum listener_wake {
	LISTENER_WAKE_READY,    /* one of its descriptors is readable */
	LISTENER_WAKE_TIMEOUT,  /* its time is up */
	LISTENER_WAKE_STOP,     /* the listener stops */
	LISTENER_WAKE_UNPARKED, /* it could not be parked (out of descriptors or
	                         * memory): go on waiting in this thread */
};

/* Continues a parked session in a new thread; the same rules as for the
 * handler apply (it may park again). */
typedef void listener_resume_fn(void *ctx, const struct listener_conn *lc,
                                enum listener_wake why);

/* Descriptors one parked session may wait on. */
#define LISTENER_PARK_FDS_MAX 4

struct listener_opts {
	const char *name;          /* for logs: "smtp", "submission", ... */
	struct connlimit *limit;   /* borrowed; NULL: no limit */
	const char *busy_reply;    /* sent to refused connections; may be NULL */
	listener_handler *handler;
	void *ctx;                 /* passed to handler; must outlive the listener */
};

struct listener;

/* Starts accepting on fd (from listener_bind; owned from now on) in a thread
 * of its own. Returns the listener, or NULL with e set. */
struct listener *listener_start(int fd, const struct listener_opts *opts, struct error *e);

/* Asks every listener's sessions to stop: closes the listening sockets and
 * makes their cancel descriptors readable. Returns at once. */
void listener_shutdown(struct listener *l);

/* listener_shutdown if not done yet, then waits for its sessions to end:
 * up to grace_ms, after which their sockets are shut down and it waits for
 * the threads to notice. Frees *l and sets it to NULL. */
void listener_free(struct listener **l, unsigned grace_ms);

/* listener_free with the grace period ending at deadline_ms
 * (clock_mono_ms): services stopping several listeners tell them all
 * (listener_shutdown), then free each within one shared grace period. */
void listener_free_until(struct listener **l, int64_t deadline_ms);

/* Sessions running now, parked ones included. */
size_t listener_active(struct listener *l);

/* Asks for lc's session to be parked once the handler (or resume function)
 * returns, which must be its next act: its thread ends, and resume(ctx, lc,
 * why) runs in a new thread when one of fds[0..nfds) (nfds at most
 * LISTENER_PARK_FDS_MAX, which stay open meanwhile) is readable, after
 * timeout_ms, or when the listener stops. Parking after the listener was
 * told to stop resumes at once with LISTENER_WAKE_STOP, and when epoll
 * refuses, with LISTENER_WAKE_UNPARKED, in the same thread. lc must be the
 * one the handler was given. */
void listener_park(const struct listener_conn *lc, const int *fds, size_t nfds,
                   unsigned timeout_ms, listener_resume_fn *resume, void *ctx);

/* Parked sessions now. */
size_t listener_parked(struct listener *l);

#endif
