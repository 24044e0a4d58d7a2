/*
 * privdrop.h: dropping root, once, before any network input is read.
 *
 * `tern serve` starts as root, opens its sockets and reads its keys, then calls
 * privdrop_to_user() before it starts a single listener thread. After it, the
 * process has the user's uid and gid in every slot (real, effective, saved), no
 * supplementary groups but the user's own, and cannot get root back; the
 * function checks that and fails closed.
 */
#ifndef TERN_CORE_PRIVDROP_H
#define TERN_CORE_PRIVDROP_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

/* If running as root: makes the n paths of own (files or directories the
 * server must write: its data directory, domains.conf and the directory that
 * holds it) owned by user, then switches to user for good. If not root: does
 * nothing and returns 0 (a developer running tern as themselves). Returns -1
 * with err set when the user does not exist or any step fails; the caller
 * must then exit. */
int privdrop_to_user(const char *user, const char *const *own, size_t n, struct error *err);

/* Whether the process runs with root privileges. */
bool privdrop_is_root(void);

#endif
