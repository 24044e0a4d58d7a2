/*
 * fuzz_imap_command.c: libFuzzer target for the IMAP command reader and
 * parser of src/imap/ (imap_read_command, imap_command_parse), fed as a
 * client stream through a pipe (fuzz_pipe.h). The continuation callback
 * only counts: a pipe cannot carry the "+" back, and the reader does not
 * depend on it.
 *
 * The first byte chooses the flags (IMAP_UTF8, IMAP_LITERAL_PLUS) and
 * whether the limits are small (so that every refusal path is common).
 * Checks: every read ends in a parsed command with a tag and a known name,
 * or an error of kind ERR_INVALID/ERR_LIMIT that leaves the reader in step,
 * or a fatal error; every command consumes input (no endless loop); the
 * conn's input buffer and the reader's buffer stay within their bounds; the
 * arena grows at most linearly with the command; a parsed mailbox name is
 * written back by the response writer and decodes to the same name.
 */
#include "imap/imap.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"
#include "fuzz_pipe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	unsigned conts;
};

static int cont(void *ctx, uint64_t n, struct error *e)
{
	((struct ctx *)ctx)->conts++;
	return 0;
}

static void check_mailbox(const char *name, unsigned flags, struct arena *a)
{
	if (name == NULL)
		return;
	struct buf out;
	buf_init(&out, 1 << 20);
	check(imap_write_mailbox(&out, name, flags) == 0);
	/* Parse it back as the argument of a SELECT. */
	struct buf line;
	buf_init(&line, 1 << 21);
	check(buf_append_str(&line, "t SELECT ") == 0);
	check(buf_append(&line, out.data, out.len) == 0);
	struct imap_command c;
	struct error e;
	check(imap_command_parse(line.data, line.len, flags, 0, 0, a, &c, &e) == 0);
	check(strcmp(c.mailbox, name) == 0);
	buf_free(&line);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0] & (IMAP_UTF8 | IMAP_LITERAL_PLUS);
	bool small = data[0] & 0x80;
	data++;
	size--;
	int fd = pipe_with(data, &size);
	struct error e;
	struct conn *c = conn_new(fd, small ? 128 : IMAP_LINE_MAX_DEFAULT, &e);
	check(c != NULL);
	struct imap_limits lim;
	imap_limits_default(&lim);
	if (small) {
		lim.command_max = 512;
		lim.args_max = 16;
		lim.depth_max = 4;
		lim.append_max = 256;
		lim.append_total_max = 512;
		lim.skip_max = 1024;
	}
	struct buf scratch;
	buf_init(&scratch, BUF_UNBOUNDED);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct ctx cx = { 0 };
	uint64_t before = 0;
	for (;;) {
		arena_reset(a);
		struct imap_command cmd;
		struct imap_refusal ref;
		int rc = imap_read_command(c, &lim, flags, cont, &cx, &scratch, a, &cmd, &ref, &e);
		struct conn_stats st;
		conn_stats(c, &st);
		check(st.in_buf_peak <= st.in_buf_bound);
		check(scratch.len <= lim.command_max + lim.append_total_max);
		check(arena_used(a) <= 64 * (scratch.len + 256) + 65536);
		if (rc == 0) {
			check(cmd.tag != NULL && cmd.tag[0] != '\0');
			check(cmd.cmd != IMAP_CMD_NONE);
			check(strcmp(imap_cmd_name(cmd.cmd), "?") != 0);
			check_mailbox(cmd.mailbox, flags, a);
			check_mailbox(cmd.mailbox2, flags, a);
			for (size_t i = 0; i < cmd.n_msgs; i++)
				check(cmd.msgs[i].size <= lim.append_max);
		} else if (ref.fatal) {
			break;
		} else {
			check(e.kind == ERR_INVALID || e.kind == ERR_LIMIT);
			check(e.msg[0] != '\0');
		}
		/* Progress: every command consumes at least one byte. */
		uint64_t consumed = st.bytes_in - conn_in_pending(c);
		check(consumed > before && consumed <= size);
		before = consumed;
	}
	arena_free(&a);
	buf_free(&scratch);
	conn_free(&c);
	return 0;
}
