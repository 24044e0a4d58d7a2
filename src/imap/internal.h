/* internal.h: shared between the files of src/imap/. */
#ifndef TERN_IMAP_INTERNAL_H
#define TERN_IMAP_INTERNAL_H

#include "imap/imap.h"

struct cmd_row;

/* The command table row named [p, p+n) (case-insensitive), NULL if unknown
 * or (uid) not allowed after "UID". */
const struct cmd_row *imap_cmd_lookup(const char *p, size_t n, bool uid);

/* Whether [p, p+n) is valid UTF-8 (no overlongs, surrogates). */
bool imap_utf8_valid(const char *p, size_t n);

#endif
