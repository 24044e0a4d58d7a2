/*
 * ctl.h: the control socket of a running server.
 *
 * `tern serve` listens on the unix socket DATADIR/ctl (mode 0600). Commands
 * that change accounts or mail (and `tern stop`, `tern config reload`) send
 * their request there when a server runs, so live sessions see the change; when
 * none runs they open the files directly.
 *
 * Wire format (version 1), every message length-prefixed so that nothing is
 * guessed from content, and anything unexpected closes the connection:
 *   server:  "tern-ctl 1\n"
 *   client:  "call ARGC\n" then per argument "LEN\n" and LEN bytes
 *   server:  "ok LEN\n" or "error LEN\n", then LEN bytes of text
 * One request per connection. Limits: CTL_ARGS_MAX arguments of at most
 * CTL_ARG_MAX bytes; replies of at most CTL_REPLY_MAX bytes.
 */
#ifndef TERN_CTL_CTL_H
#define TERN_CTL_CTL_H

#include "core/buf.h"
#include "core/error.h"

#include <stddef.h>

#define CTL_VERSION 1
#define CTL_ARGS_MAX 64               /* a command and its arguments */
#define CTL_ARG_MAX (64 * 1024)       /* one argument */
#define CTL_REPLY_MAX (16 * 1024 * 1024)
#define CTL_TIMEOUT_MS 30000          /* per read or write on the socket */

/* Handles one request. argv[0] is the command name. Writes its reply text to
 * out (bounded by CTL_REPLY_MAX) and returns 0, or returns -1 with err set. */
typedef int ctl_handler(void *arg, int argc, char **argv, struct buf *out, struct error *err);

struct ctl_command {
	const char *name;
	int min_args, max_args;       /* not counting the name */
	ctl_handler *handle;
};

struct ctl_server;

/* Path of the control socket for a data directory, into out. Returns 0, or -1
 * if it does not fit a unix socket address (err says so). */
int ctl_socket_path(const char *data_dir, char *out, size_t size, struct error *err);

/* Binds DATADIR/ctl and starts a thread serving the commands. A stale socket
 * file (no server behind it) is replaced; a live one is an error ("a server is
 * already running"). The table and arg must outlive the server. */
struct ctl_server *ctl_server_start(const char *data_dir, const struct ctl_command *cmds,
                                    size_t ncmds, void *arg, struct error *err);

/* Stops the thread, closes and removes the socket. Sets *srv to NULL. */
void ctl_server_stop(struct ctl_server **srv);

/* Sends one request to the server of data_dir. Returns 1 with the reply text in
 * out when the server answered ok; 0 when no server runs (nothing listening);
 * -1 with err set when the server answered an error or the exchange failed. */
int ctl_call(const char *data_dir, int argc, const char *const *argv, struct buf *out,
             struct error *err);

#endif
