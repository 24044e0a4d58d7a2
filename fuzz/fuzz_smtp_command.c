/*
 * fuzz_smtp_command.c: libFuzzer target for the SMTP syntax of src/smtp/:
 * command lines (smtp_command_parse), mailboxes and paths
 * (smtp_address_parse, smtp_path_parse), replies (smtp_reply_parse) and
 * xtext (smtp_xtext_decode), all on the same arbitrary bytes.
 *
 * The first byte chooses the parser flags. Checks: a refused command always
 * carries a suggested reply; a parsed path ends inside the input at ">";
 * parsed addresses keep within the named limits; a parsed reply's length is
 * within the input.
 */
#include "smtp/smtp.h"

#include "core/arena.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_address(const struct smtp_address *a, unsigned flags)
{
	size_t max = (flags & SMTP_LIBERAL) ? SMTP_LOCAL_PART_LIBERAL_MAX : SMTP_LOCAL_PART_MAX;
	check(strlen(a->local_raw) <= max);
	check(a->local_len <= strlen(a->local_raw));
	check(strlen(a->domain) <= SMTP_DOMAIN_MAX);
	check(a->literal == (a->domain[0] == '['));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0] & (SMTP_UTF8 | SMTP_LIBERAL | SMTP_STRICT | SMTP_EXTENDED);
	/* A copy of exactly the input size, so reads past the end are caught. */
	size_t n = size - 1;
	char *p = malloc(n > 0 ? n : 1);
	check(p != NULL);
	memcpy(p, data + 1, n);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct error e;

	struct smtp_command cmd;
	struct smtp_reply_hint hint;
	if (smtp_command_parse(p, n, flags, a, &cmd, &hint, &e) < 0) {
		check(hint.code >= 500 && hint.code <= 555 && hint.enhanced != NULL && hint.text != NULL);
		check(e.kind == ERR_INVALID || e.kind == ERR_LIMIT);
	} else if (cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT) {
		if (!cmd.path.null && cmd.path.addr.domain[0] != '\0')
			check_address(&cmd.path.addr, flags | SMTP_UTF8);
	}

	struct smtp_address addr;
	if (smtp_address_parse(p, n, flags, a, &addr, &e) == 0) {
		check(n <= SMTP_MAILBOX_MAX);
		check_address(&addr, flags);
	}

	const char *cur = p;
	struct smtp_path path;
	if (smtp_path_parse(&cur, p + n, flags, a, &path, &e) == 0) {
		check(cur > p && cur <= p + n && cur[-1] == '>');
		check((size_t)(cur - p) <= SMTP_PATH_MAX);
		if (!path.null)
			check_address(&path.addr, flags);
	}

	struct smtp_reply reply;
	long used = smtp_reply_parse(p, n, a, &reply, &e);
	check(used >= -1 && used <= (long)n);
	if (used > 0)
		check(reply.n >= 1 && reply.code >= 200 && reply.code <= 599);

	const char *x;
	if (smtp_xtext_decode(p, n, SMTP_ORCPT_MAX, a, &x, &e) == 0)
		check(strlen(x) <= n);

	arena_free(&a);
	free(p);
	return 0;
}
