/*
 * read.c: one IMAP command from a connection (RFC 9051 §2.2.1): lines, and
 * literals announced at the end of a line (§4.3): synchronizing "{n}" (the
 * server sends "+" first, §7.5), non-synchronizing "{n+}" (LITERAL+ and
 * LITERAL-, RFC 7888 §3, §5) and literal8 "~{n}" (RFC 3516 §4.4).
 *
 * The reader keeps the connection in step on every refusal: a refused
 * synchronizing literal is never sent by the client (it waits for "+" and
 * gets the BAD), a refused non-synchronizing literal is read and dropped
 * (up to skip_max), and the lines and literals that follow it in the same
 * command are dropped too. A line over the conn's line_max is skipped the
 * same way, keeping its last bytes to see whether it announced a literal.
 */
#include "imap/imap.h"
#include "imap/internal.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/conn.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TAIL_MAX 32
#define HEAD_MAX 64

void imap_limits_default(struct imap_limits *l)
{
	*l = (struct imap_limits){0};   /* no append budget unless the caller sets one */
	l->command_max = IMAP_COMMAND_MAX_DEFAULT;
	l->args_max = IMAP_ARGS_MAX_DEFAULT;
	l->depth_max = IMAP_DEPTH_MAX_DEFAULT;
	l->append_max = IMAP_APPEND_MAX_DEFAULT;
	l->append_total_max = 4 * (uint64_t)IMAP_APPEND_MAX_DEFAULT;
	l->skip_max = IMAP_APPEND_MAX_DEFAULT;
	l->transfer_base_ms = 60 * 1000;
	l->transfer_min_rate = 1024;
	l->transfer_max_ms = 60 * 60 * 1000;
}

struct litspec {
	uint64_t n;
	bool sync;
	bool binary;
	bool huge;      /* more digits than a number64 holds */
};

/* Whether the line [p, p+len) ends in a literal announcement
 * ["~"] "{" number64 ["+"] "}" (§9 literal, literal8). */
static bool literal_at_end(const char *p, size_t len, struct litspec *ls)
{
	if (len < 3 || p[len - 1] != '}')
		return false;
	size_t i = len - 1;
	ls->sync = true;
	if (p[i - 1] == '+') {
		ls->sync = false;
		i--;
	}
	size_t dend = i;
	while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9')
		i--;
	if (i == dend || i == 0 || p[i - 1] != '{')
		return false;
	ls->huge = dend - i > 19;
	ls->n = 0;
	for (size_t j = i; j < dend && !ls->huge; j++) {
		if (ls->n > (UINT64_C(9223372036854775807) - (uint64_t)(p[j] - '0')) / 10)
			ls->huge = true;
		else
			ls->n = ls->n * 10 + (uint64_t)(p[j] - '0');
	}
	ls->binary = i >= 2 && p[i - 2] == '~';
	return true;
}

/* The tag at the start of a line, or NULL if it is not a valid tag. */
static const char *tag_of(const char *p, size_t len, struct arena *a)
{
	size_t n = 0;
	while (n < len && n < 64 && p[n] != ' ') {
		unsigned char c = (unsigned char)p[n];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\+", c) != NULL)
			return NULL;
		n++;
	}
	if (n == 0 || n == len || n >= 64)
		return NULL;
	return arena_strndup(a, p, n);
}

/* Whether the command named on the first line is APPEND or (UID) REPLACE. */
static bool is_append(const char *p, size_t len)
{
	const char *sp1 = memchr(p, ' ', len);
	if (sp1 == NULL)
		return false;
	const char *w = sp1 + 1, *end = p + len;
	if (end - w >= 4 && strncasecmp(w, "UID ", 4) == 0)
		w += 4;
	return (end - w >= 7 && strncasecmp(w, "APPEND ", 7) == 0) ||
		(end - w >= 8 && strncasecmp(w, "REPLACE ", 8) == 0);
}

/* Keeps the last TAIL_MAX bytes of what tail held followed by p[0..n). */
static void tail_add(char *tail, size_t *tail_n, const char *p, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(tail, p + n - TAIL_MAX, TAIL_MAX);
		*tail_n = TAIL_MAX;
		return;
	}
	size_t keep = *tail_n + n > TAIL_MAX ? TAIL_MAX - n : *tail_n;
	memmove(tail, tail + *tail_n - keep, keep);
	memcpy(tail + keep, p, n);
	*tail_n = keep + n;
}

/* Discards a line whose start is still unread, scanning the buffered input
 * chunk by chunk and consuming nothing after its LF; keeps up to HEAD_MAX
 * first and TAIL_MAX last bytes (terminator excluded). A line longer than
 * max is an error (fatal for the caller: a client that never ends its
 * line). */
static int skip_line(struct conn *c, uint64_t max, char *head, size_t *head_n, char *tail,
	size_t *tail_n, struct error *e)
{
	*head_n = *tail_n = 0;
	for (uint64_t n = 0;;) {
		const char *p;
		ssize_t k = conn_peek(c, &p, e);
		if (k < 0)
			return -1;
		const char *lf = memchr(p, '\n', (size_t)k);
		size_t part = lf != NULL ? (size_t)(lf - p) : (size_t)k;
		n += part;
		if (n > max)
			return error_set(e, ERR_LIMIT, "line too long to skip: more than %llu octets",
				(unsigned long long)max);
		size_t h = part < HEAD_MAX - *head_n ? part : HEAD_MAX - *head_n;
		memcpy(head + *head_n, p, h);
		*head_n += h;
		tail_add(tail, tail_n, p, part);
		conn_consume(c, part + (lf != NULL));
		if (lf != NULL)
			break;
	}
	if (*tail_n > 0 && tail[*tail_n - 1] == '\r')
		(*tail_n)--;
	return 0;
}

static int discard(struct conn *c, uint64_t n, struct error *e)
{
	char tmp[4096];
	while (n > 0) {
		ssize_t k = conn_read(c, tmp, n < sizeof tmp ? (size_t)n : sizeof tmp, e);
		if (k < 0)
			return -1;
		n -= (uint64_t)k;
	}
	return 0;
}

/* After a refused command whose last consumed line ended with tail: drops
 * announced non-synchronizing literals and the lines after them until the
 * command ends. Returns 0 in step, or -1 with e set (fatal). */
static int skip_rest(struct conn *c, const struct imap_limits *lim, const char *tail,
	size_t tail_n, bool literal_consumed, struct error *e)
{
	char head[HEAD_MAX], t[TAIL_MAX];
	size_t head_n;
	memcpy(t, tail, tail_n);
	for (;;) {
		struct litspec ls;
		if (!literal_consumed) {
			if (!literal_at_end(t, tail_n, &ls) || ls.sync)
				return 0;  /* end of command, or the client waits for "+" */
			if (ls.huge || ls.n > lim->skip_max)
				return error_set(e, ERR_LIMIT,
					"non-synchronizing literal of %s octets too large to skip",
					ls.huge ? "too many" : "so many");
			if (lim->transfer_max_ms > 0)
				conn_transfer_begin(c, lim->transfer_base_ms, lim->transfer_min_rate,
					lim->transfer_max_ms);
			int rc = discard(c, ls.n, e);
			if (lim->transfer_max_ms > 0)
				conn_transfer_end(c);
			if (rc < 0)
				return -1;
		}
		literal_consumed = false;
		if (skip_line(c, lim->skip_max, head, &head_n, t, &tail_n, e) < 0)
			return -1;
	}
}

/* Reserves n octets of b (NULL: unbounded) for a command that holds
 * `held` already. A command that holds all that is used may go past the
 * maximum: one command within its own limits always gets through. */
static bool budget_take(struct imap_append_budget *b, uint64_t n, uint64_t held)
{
	if (b == NULL)
		return true;
	uint64_t used = atomic_load(&b->used);
	do {
		if (used != held && (used > b->max || n > b->max - used))
			return false;
	} while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
	return true;
}

void imap_append_budget_release(struct imap_append_budget *b, uint64_t n)
{
	if (b != NULL && n > 0)
		atomic_fetch_sub(&b->used, n);
}

static int refuse(struct imap_refusal *ref, const char *code, bool sync_refused)
{
	ref->code = code;
	ref->literal_refused = sync_refused;
	return -1;
}

static int fatal(struct imap_refusal *ref)
{
	ref->fatal = true;
	return -1;
}

/* imap_read_command; *held_r counts the octets reserved from the budget. */
static int read_command(struct conn *c, const struct imap_limits *lim, unsigned flags,
	imap_continue_fn *cont, void *ctx, struct buf *scratch, struct arena *a,
	struct imap_command *cmd_r, struct imap_refusal *ref_r, uint64_t *held_r, struct error *e)
{
	uint64_t total = 0, append_total = 0;
	size_t nlit = 0;
	bool first = true, append = false;
	for (;;) {
		struct conn_line l;
		if (conn_read_line(c, &l, e) < 0) {
			if (e->kind != ERR_LIMIT)
				return fatal(ref_r);
			/* Line over line_max: skip it (and what it announces). */
			char head[HEAD_MAX], tail[TAIL_MAX];
			size_t head_n, tail_n;
			struct error e2;
			if (skip_line(c, lim->skip_max, head, &head_n, tail, &tail_n, &e2) < 0 ||
					skip_rest(c, lim, tail, tail_n, false, &e2) < 0) {
				*e = e2;
				return fatal(ref_r);
			}
			if (first)
				ref_r->tag = tag_of(head, head_n, a);
			error_set(e, ERR_LIMIT, "command line too long");
			return refuse(ref_r, "TOOBIG", false);
		}
		if (first) {
			ref_r->tag = tag_of(l.data, l.len, a);
			append = is_append(l.data, l.len);
			first = false;
		}
		total += l.len + 2;
		const char *tail = l.len > TAIL_MAX ? l.data + l.len - TAIL_MAX : l.data;
		size_t tail_n = l.len > TAIL_MAX ? TAIL_MAX : l.len;
		char tailcopy[TAIL_MAX];
		memcpy(tailcopy, tail, tail_n);
		if (total > lim->command_max) {
			struct error e2;
			if (skip_rest(c, lim, tailcopy, tail_n, false, &e2) < 0) {
				*e = e2;
				return fatal(ref_r);
			}
			struct litspec ls;
			bool sync = literal_at_end(tailcopy, tail_n, &ls) && ls.sync;
			error_set(e, ERR_LIMIT, "command too long: more than %zu octets", lim->command_max);
			return refuse(ref_r, "TOOBIG", sync);
		}
		struct litspec ls;
		bool lit = literal_at_end(l.data, l.len, &ls);
		if (buf_append(scratch, l.data, l.len) < 0) {
			error_set(e, ERR_LIMIT, "command too long for the buffer");
			return fatal(ref_r);
		}
		if (!lit)
			break;
		buf_append(scratch, "\r\n", 2);
		/* Limits for this literal. */
		const char *why = NULL;
		char whybuf[128];
		if (++nlit > lim->args_max) {
			why = "too many literals";
		} else if (ls.huge) {
			why = "literal size too large";
		} else if (!ls.sync && !(flags & IMAP_LITERAL_PLUS) && ls.n > IMAP_LITERAL_MINUS_MAX) {
			/* RFC 7888 §5: LITERAL- allows {n+} up to 4096 octets only. */
			snprintf(whybuf, sizeof whybuf,
				"non-synchronizing literal of %llu octets: LITERAL- allows at most %d",
				(unsigned long long)ls.n, IMAP_LITERAL_MINUS_MAX);
			why = whybuf;
		} else if (append) {
			if (ls.n > lim->append_max || append_total + ls.n > lim->append_total_max) {
				snprintf(whybuf, sizeof whybuf, "message too large: limit %llu octets",
					(unsigned long long)lim->append_max);
				why = whybuf;
			}
		} else if (total + ls.n > lim->command_max) {
			snprintf(whybuf, sizeof whybuf, "command too long: more than %zu octets",
				lim->command_max);
			why = whybuf;
		}
		bool shortage = false;
		if (why == NULL && append && !budget_take(lim->append_budget, ls.n, *held_r)) {
			/* RFC 9051 §7.1.2 NO, RFC 5530 §3 LIMIT: a passing shortage. */
			why = "too many messages being appended at once: try again later";
			shortage = true;
		}
		if (why != NULL) {
			if (!ls.sync) {
				struct error e2;
				if (skip_rest(c, lim, tailcopy, tail_n, false, &e2) < 0) {
					*e = e2;
					return fatal(ref_r);
				}
			}
			error_set(e, ERR_LIMIT, "%s", why);
			ref_r->no = shortage;
			return refuse(ref_r, nlit > lim->args_max || shortage ? "LIMIT" : "TOOBIG",
				ls.sync);
		}
		if (append) {
			append_total += ls.n;
			*held_r += lim->append_budget != NULL ? ls.n : 0;
		} else {
			total += ls.n;
		}
		int went_on = ls.sync && cont != NULL ? cont(ctx, ls.n, e) : 0;
		if (went_on < 0)
			return fatal(ref_r);
		if (went_on > 0) {
			ref_r->no = true;
			return refuse(ref_r, e->kind == ERR_NOTFOUND ? "TRYCREATE" : NULL, true);
		}
		char *dst = buf_reserve(scratch, (size_t)ls.n);
		if (dst == NULL) {
			error_set(e, ERR_LIMIT, "command too long for the buffer");
			return fatal(ref_r);
		}
		bool transfer = ls.n > IMAP_LITERAL_TRANSFER_MIN && lim->transfer_max_ms > 0;
		if (transfer)
			conn_transfer_begin(c, lim->transfer_base_ms, lim->transfer_min_rate,
				lim->transfer_max_ms);
		int rc = ls.n > 0 ? conn_read_exact(c, dst, (size_t)ls.n, e) : 0;
		if (transfer)
			conn_transfer_end(c);
		if (rc < 0)
			return fatal(ref_r);
		buf_commit(scratch, (size_t)ls.n);
	}
	if (imap_command_parse(scratch->data, scratch->len, flags, lim->args_max, lim->depth_max,
			a, cmd_r, e) < 0) {
		if (cmd_r->tag != NULL)
			ref_r->tag = cmd_r->tag;
		return refuse(ref_r, e->kind == ERR_LIMIT ? "LIMIT" : NULL, false);
	}
	return 0;
}

int imap_read_command(struct conn *c, const struct imap_limits *lim, unsigned flags,
	imap_continue_fn *cont, void *ctx, struct buf *scratch, struct arena *a,
	struct imap_command *cmd_r, struct imap_refusal *ref_r, struct error *e)
{
	memset(cmd_r, 0, sizeof *cmd_r);
	memset(ref_r, 0, sizeof *ref_r);
	buf_reset(scratch);
	uint64_t held = 0;
	if (read_command(c, lim, flags, cont, ctx, scratch, a, cmd_r, ref_r, &held, e) < 0) {
		imap_append_budget_release(lim->append_budget, held);
		return -1;
	}
	cmd_r->append_held = held;
	return 0;
}

int imap_read_idle_done(struct conn *c, struct error *e)
{
	struct conn_line l;
	if (conn_read_line(c, &l, e) < 0) {
		if (e->kind == ERR_LIMIT) {
			struct error e2;
			if (conn_skip_line(c, &e2) < 0) {
				*e = e2;
				return -1;
			}
			return error_set(e, ERR_INVALID, "expected DONE");
		}
		return -1;
	}
	if (l.len == 4 && strncasecmp(l.data, "DONE", 4) == 0)
		return 0;
	return error_set(e, ERR_INVALID, "expected DONE");
}

int imap_read_sasl_line(struct conn *c, struct arena *a, const char **line_r,
	struct error *e)
{
	struct conn_line l;
	if (conn_read_line(c, &l, e) < 0)
		return -1;
	if (memchr(l.data, '\0', l.len) != NULL)
		return error_set(e, ERR_INVALID, "NUL in SASL response");
	*line_r = arena_strndup(a, l.data, l.len);
	return 0;
}
