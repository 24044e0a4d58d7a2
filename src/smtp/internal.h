/*
 * internal.h: shared by the files of src/smtp/ only.
 */
#ifndef TERN_SMTP_INTERNAL_H
#define TERN_SMTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence (RFC 3629 §4, UTF8-non-ascii of RFC 6531
 * §3.3) starting at p before end, or 0 if there is none. */
size_t smtp_utf8_len(const char *p, const char *end);

#endif
