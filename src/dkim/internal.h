/*
 * internal.h: what the files of src/dkim/ share and nothing else includes
 * (their unit tests aside).
 */
#ifndef TERN_DKIM_INTERNAL_H
#define TERN_DKIM_INTERNAL_H

#include "dkim/dkim.h"
#include "message/message.h"

/* dkim_crypto_sign, dkim_crypto_verify and dkim_hash_headers are declared in
 * dkim.h: src/arc/ uses them too. */

/* Canonical header data bytes allowed per signature: the header block limit
 * of message.h plus room for the signature field itself. */
#define DKIM_HEADER_DATA_MAX (MESSAGE_MAX_HEADER_BYTES + 2 * DKIM_MAX_TAGLIST_BYTES)

#endif
