/*
 * writer.c: export of messages as mbox files or maildirs, into a directory
 * or an archive (archive_write.c), in bounded memory.
 *
 * Layout (read back by reader.c under the same names):
 *   mbox:    DEST/NAME.mbox, levels of NAME as directories (a/b -> a/b.mbox)
 *   maildir: DEST/NAME/{cur,new,tmp}/, levels as nested maildirs
 *            (a/b -> DEST/a/b/cur/...), DEST/NAME/dovecot-keywords
 * Messages are converted from CRLF to LF (a lone CR is kept).
 *
 * mbox (mboxrd): each message is "From MAILER-DAEMON <asctime, UTC>", then
 * the message with every line matching /^>*From / given one more '>', then
 * an empty line. A message without a final line ending gets one.
 *
 * mbox flag headers. The flags and keywords of a message are written as
 * Status (R for \Seen, then O), X-Status (A F T D) and X-Keywords (keywords
 * separated by spaces, folded before 78 columns). The header of the message
 * is held while its searched part (internal.h: the part the reader takes
 * flags from, at most MAILFMT_MBOX_HEADER_SCAN_MAX bytes and lines of at
 * most MBOX_HDR_LINE_MAX; past it the rest streams as body) is checked,
 * name by name:
 *   - lines of that name present, and what they say together (as the reader
 *     reads them: Status R, X-Status letters, the set of X-Keywords, any
 *     case, whitespace and order ignored) equals the flags to write: every
 *     line stays byte for byte, folded continuation lines included;
 *   - present but different: the first line of that name (with its
 *     continuation lines) is replaced where it stands by a generated one,
 *     and later lines of that name are dropped;
 *   - absent: a generated line is added only if it says something (Status
 *     for \Seen, X-Status for any of A F T D, X-Keywords for keywords), just
 *     before the empty line that ends the header; when the searched part
 *     does not end with that line (a message without a body, or a header
 *     past the limits), at the top of the header, before its first field.
 * So a message whose flag headers agree with its flags, as every message
 * read from an mbox and not changed since, is written byte for byte (apart
 * from line endings and quoting). The parsing is the reader's own (flags.c),
 * so what is written reads back as the flags that were written. Limitation:
 * in a header longer than the limit, added or replaced lines move later
 * lines, which can move a flag header near the limit out of the searched
 * part.
 *
 * maildir: each message is written to tmp/, synced, given the received
 * time as modification time, renamed to cur/TIME.PID_N.HOST:2,FLAGS and its
 * directory synced (the maildir delivery steps). Keyword letters a..z are
 * given in order of first use per mailbox; dovecot-keywords is written when
 * the mailbox is finished. $Forwarded is the P flag.
 */
#include "mailfmt/internal.h"

#include "core/file.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Output staged before a write(2) or archive write. */
#define WR_BUF FMT_CHUNK
/* Bytes of a header line without LF that make it longer than
 * MBOX_HDR_LINE_MAX however it reads back (at most two CRs before the LF
 * are dropped, then CRLF is added). */
#define HDR_LINE_RAW_MAX (MBOX_HDR_LINE_MAX + 1)
/* The held header: the searched part plus one line; a searched line is at
 * most one byte longer as given than as read back, and at least 3 bytes. */
#define HDR_HELD_MAX (2 * MAILFMT_MBOX_HEADER_SCAN_MAX + 2 * FMT_CHUNK)

struct mailfmt_writer {
	enum mailfmt_kind kind;
	enum mailfmt_archive archive;
	char *dest;
	struct arc_wr *arc;
	struct arena *arena;      /* the names of finished mailboxes */
	const char **done;
	size_t ndone, cap_done;
	char host[256];
	unsigned long long seq;
	/* the open mailbox */
	struct arena *box_arena;
	const char *mailbox;      /* NULL when none */
	const char *kw[26];
	size_t nkw;
	int mbox_fd;              /* directory mbox */
	/* the open message */
	bool in_msg;
	int msg_fd;               /* directory maildir */
	const char *tmp_path, *final_path;
	int64_t received;
	bool held_cr;
	struct arena *msg_arena;  /* the open message's keywords */
	/* mbox: the header of the open message, held while it is searched */
	bool hdr_on;              /* still taking the searched part */
	bool hdr_blank;           /* that part ends at the empty line */
	struct buf hdr;           /* the bytes taken, as given (CRLF) */
	size_t hdr_line;          /* where the line being taken starts in hdr */
	size_t hdr_off;           /* ...and its offset as read back */
	size_t hdr_end;           /* end of the searched part in hdr */
	unsigned want_flags;      /* the flags and keywords to write */
	struct kwlist *want_kw;
	bool bol;                 /* mbox quoting: at a line start */
	size_t gt, from_match;    /* mbox quoting: '>' run, bytes of "From " */
	char last;
	uint64_t written;
	size_t olen;
	char obuf[WR_BUF];
};

/* ---- output ---- */

static int sink(struct mailfmt_writer *w, const char *p, size_t n, struct error *err)
{
	if (w->arc != NULL)
		return arc_wr_write(w->arc, p, n, err);
	int fd = w->kind == MAILFMT_MBOX ? w->mbox_fd : w->msg_fd;
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return error_errno(err, errno, "writing to %s", w->dest);
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int flush(struct mailfmt_writer *w, struct error *err)
{
	size_t n = w->olen;
	w->olen = 0;
	return n > 0 ? sink(w, w->obuf, n, err) : 0;
}

static int put(struct mailfmt_writer *w, const char *p, size_t n, struct error *err)
{
	while (n > 0) {
		if (w->olen == sizeof(w->obuf) && flush(w, err) < 0)
			return -1;
		size_t k = sizeof(w->obuf) - w->olen;
		if (k > n)
			k = n;
		memcpy(w->obuf + w->olen, p, k);
		w->olen += k;
		w->written += k;
		w->last = p[k - 1];
		p += k;
		n -= k;
	}
	return 0;
}

static int put_gt(struct mailfmt_writer *w, size_t count, struct error *err)
{
	for (; count > 0; count--)
		if (put(w, ">", 1, err) < 0)
			return -1;
	return 0;
}

/* Emits a quoting prefix that turned out not to be "From ". */
static int quote_flush(struct mailfmt_writer *w, struct error *err)
{
	int r = put_gt(w, w->gt, err);
	if (r == 0)
		r = put(w, "From ", w->from_match, err);
	w->gt = 0;
	w->from_match = 0;
	return r;
}

/* mboxrd: a line matching /^>*From / gets one more '>'. The prefix is kept
 * as counts, so a long run of '>' needs no memory. */
static int put_quoted(struct mailfmt_writer *w, char c, struct error *err)
{
	if (w->bol) {
		if (c == '>' && w->from_match == 0) {
			w->gt++;
			return 0;
		}
		if (c == "From "[w->from_match]) {
			if (++w->from_match < 5)
				return 0;
			w->gt++;
			w->bol = false;
			return quote_flush(w, err);
		}
		if (quote_flush(w, err) < 0)
			return -1;
	}
	w->bol = c == '\n';
	return put(w, &c, 1, err);
}

/* ---- names ---- */

static bool name_component_ok(enum mailfmt_kind kind, const char *c, size_t n)
{
	if (n == 0 || c[0] == '.')
		return false;
	if (kind == MAILFMT_MAILDIR && n == 3 &&
	    (strncmp(c, "cur", 3) == 0 || strncmp(c, "new", 3) == 0 || strncmp(c, "tmp", 3) == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			return false;
	return true;
}

static int check_name(enum mailfmt_kind kind, const char *name, struct error *err)
{
	size_t len = strlen(name), depth = 0;
	if (len == 0 || len > MAILFMT_MAILBOX_NAME_MAX)
		return error_set(err, ERR_INVALID, "mailbox name empty or longer than %d bytes",
		                 MAILFMT_MAILBOX_NAME_MAX);
	for (const char *p = name;; ) {
		size_t n = strcspn(p, "/");
		if (!name_component_ok(kind, p, n) || ++depth > MAILFMT_PATH_DEPTH_MAX)
			return error_set(err, ERR_INVALID, "mailbox name %.200s: empty level, level "
			                 "starting with '.', control character, reserved name "
			                 "(cur, new, tmp) or deeper than %d levels", name,
			                 MAILFMT_PATH_DEPTH_MAX);
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* ---- mailboxes ---- */

static const char *mbox_path(struct mailfmt_writer *w)
{
	return arena_printf(w->box_arena, "%s.mbox", w->mailbox);
}

static int dir_parent_mkdir(const char *path, struct error *err)
{
	char *copy = strdup(path);
	if (copy == NULL)
		abort();
	char *slash = strrchr(copy, '/');
	int r = 0;
	if (slash != NULL) {
		*slash = '\0';
		r = file_mkdir_all(copy, 0700, err);
	}
	free(copy);
	return r;
}

static int box_open_dir(struct mailfmt_writer *w, struct error *err)
{
	const char *base = arena_printf(w->box_arena, "%s/%s", w->dest, w->mailbox);
	if (w->kind == MAILFMT_MAILDIR) {
		static const char *const sub[] = {"cur", "new", "tmp"};
		for (size_t i = 0; i < 3; i++)
			if (file_mkdir_all(arena_printf(w->box_arena, "%s/%s", base, sub[i]), 0700,
			                   err) < 0)
				return -1;
		return 0;
	}
	const char *path = arena_printf(w->box_arena, "%s/%s", w->dest, mbox_path(w));
	if (dir_parent_mkdir(path, err) < 0)
		return -1;
	w->mbox_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->mbox_fd < 0)
		return error_errno(err, errno, "creating %s", path);
	return 0;
}

static int box_open_archive(struct mailfmt_writer *w, struct error *err)
{
	if (w->kind == MAILFMT_MBOX)
		return arc_wr_begin(w->arc, mbox_path(w), -1, err);
	static const char *const sub[] = {"", "/cur", "/new", "/tmp"};
	for (size_t i = 0; i < 4; i++)
		if (arc_wr_dir(w->arc, arena_printf(w->box_arena, "%s%s", w->mailbox, sub[i]),
		               err) < 0)
			return -1;
	return 0;
}

static int box_open(struct mailfmt_writer *w, const char *mailbox, struct error *err)
{
	for (size_t i = 0; i < w->ndone; i++)
		if (strcmp(w->done[i], mailbox) == 0)
			return error_set(err, ERR_INVALID, "mailbox %.200s was already written: "
			                 "write each mailbox's messages together", mailbox);
	if (w->ndone == MAILFMT_MAILBOXES_MAX)
		return error_set(err, ERR_LIMIT, "more than %d mailboxes", MAILFMT_MAILBOXES_MAX);
	w->mailbox = arena_strdup(w->box_arena, mailbox);
	return w->arc != NULL ? box_open_archive(w, err) : box_open_dir(w, err);
}

static int keywords_write(struct mailfmt_writer *w, struct error *err)
{
	if (w->nkw == 0)
		return 0;
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	for (size_t i = 0; i < w->nkw; i++)
		buf_appendf(&b, "%zu %s\n", i, w->kw[i]);
	const char *rel = arena_printf(w->box_arena, "%s/dovecot-keywords", w->mailbox);
	int r;
	if (w->arc != NULL) {
		r = arc_wr_begin(w->arc, rel, -1, err);
		if (r == 0)
			r = arc_wr_write(w->arc, b.data, b.len, err);
		if (r == 0)
			r = arc_wr_end(w->arc, err);
	} else {
		r = file_write_atomic(arena_printf(w->box_arena, "%s/%s", w->dest, rel), b.data,
		                      b.len, 0600, err);
	}
	buf_free(&b);
	return r;
}

static int mbox_close_dir(struct mailfmt_writer *w, struct error *err)
{
	int r = 0;
	if (fsync(w->mbox_fd) != 0)
		r = error_errno(err, errno, "syncing %s", mbox_path(w));
	close(w->mbox_fd);
	w->mbox_fd = -1;
	if (r == 0)
		r = file_sync_parent_dir(arena_printf(w->box_arena, "%s/%s", w->dest,
		                                      mbox_path(w)), err);
	return r;
}

/* Finishes the open mailbox (if any) and remembers its name. */
static int box_close(struct mailfmt_writer *w, struct error *err)
{
	if (w->mailbox == NULL)
		return 0;
	int r;
	if (w->kind == MAILFMT_MAILDIR)
		r = keywords_write(w, err);
	else if (w->arc != NULL)
		r = arc_wr_end(w->arc, err);
	else
		r = mbox_close_dir(w, err);
	if (w->ndone == w->cap_done) {
		w->cap_done = w->cap_done == 0 ? 16 : w->cap_done * 2;
		w->done = realloc(w->done, w->cap_done * sizeof(*w->done));
		if (w->done == NULL)
			abort();
	}
	w->done[w->ndone++] = arena_strdup(w->arena, w->mailbox);
	w->mailbox = NULL;
	w->nkw = 0;
	arena_reset(w->box_arena);
	return r;
}

/* ---- messages ---- */

/* The letter of keyword k in the open maildir, or 0 if past 26. */
static char kw_letter(struct mailfmt_writer *w, const char *k)
{
	for (size_t i = 0; i < w->nkw; i++)
		if (strcasecmp(w->kw[i], k) == 0)
			return (char)('a' + i);
	if (w->nkw == 26)
		return 0;
	w->kw[w->nkw] = arena_strdup(w->box_arena, k);
	return (char)('a' + w->nkw++);
}

static bool kw_ok(const char *k)
{
	if (mailfmt_keyword_valid(k, strlen(k)))
		return true;
	struct log_line *l = log_begin(LOG_WARN, "mailfmt", "export: invalid keyword dropped");
	log_str(l, "keyword", k);
	log_end(l);
	return false;
}

/* ":2," info letters in ASCII order, as the maildir spec asks. */
static const char *maildir_info(struct mailfmt_writer *w, unsigned flags,
                                const char *const *kws, size_t nkws)
{
	bool fwd = false;
	char letters[32];
	size_t n = 0;
	for (size_t i = 0; i < nkws; i++)
		if (strcasecmp(kws[i], "$Forwarded") == 0)
			fwd = true;
	if (flags & MAILFMT_DRAFT) letters[n++] = 'D';
	if (flags & MAILFMT_FLAGGED) letters[n++] = 'F';
	if (fwd) letters[n++] = 'P';
	if (flags & MAILFMT_ANSWERED) letters[n++] = 'R';
	if (flags & MAILFMT_SEEN) letters[n++] = 'S';
	if (flags & MAILFMT_DELETED) letters[n++] = 'T';
	bool used[26] = {false};
	for (size_t i = 0; i < nkws; i++) {
		if (strcasecmp(kws[i], "$Forwarded") == 0 || !kw_ok(kws[i]))
			continue;
		char c = kw_letter(w, kws[i]);
		if (c == 0) {
			struct log_line *l = log_begin(LOG_WARN, "mailfmt", "export: keyword dropped, "
			                               "a maildir names at most 26");
			log_str(l, "mailbox", w->mailbox);
			log_str(l, "keyword", kws[i]);
			log_end(l);
		} else {
			used[c - 'a'] = true;
		}
	}
	for (size_t i = 0; i < 26; i++)
		if (used[i])
			letters[n++] = (char)('a' + i);
	return arena_strndup(w->box_arena, letters, n);
}

static int maildir_begin(struct mailfmt_writer *w, unsigned flags, const char *const *kws,
                         size_t nkws, struct error *err)
{
	long long t = w->received >= 0 ? (long long)w->received : (long long)time(NULL);
	const char *base = arena_printf(w->box_arena, "%lld.%d_%llu.%s", t, (int)getpid(),
	                                ++w->seq, w->host);
	const char *info = maildir_info(w, flags, kws, nkws);
	const char *rel = arena_printf(w->box_arena, "%s/cur/%s:2,%s", w->mailbox, base, info);
	if (w->arc != NULL)
		return arc_wr_begin(w->arc, rel, w->received, err);
	w->final_path = arena_printf(w->box_arena, "%s/%s", w->dest, rel);
	w->tmp_path = arena_printf(w->box_arena, "%s/%s/tmp/%s", w->dest, w->mailbox, base);
	w->msg_fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->msg_fd < 0)
		return error_errno(err, errno, "creating %s", w->tmp_path);
	return 0;
}

static int mbox_begin(struct mailfmt_writer *w, unsigned flags, const char *const *kws,
                      size_t nkws, struct error *err)
{
	w->want_flags = flags;
	w->want_kw = arena_alloc(w->msg_arena, sizeof(*w->want_kw));
	memset(w->want_kw, 0, sizeof(*w->want_kw));
	for (size_t i = 0; i < nkws; i++)
		if (kw_ok(kws[i]))
			kwlist_add(w->want_kw, w->msg_arena, kws[i], strlen(kws[i]));
	w->hdr_on = true;
	w->hdr_blank = false;
	buf_reset(&w->hdr);
	w->hdr_line = w->hdr_off = w->hdr_end = 0;
	time_t t = w->received >= 0 ? (time_t)w->received : time(NULL);
	struct tm tm;
	char line[128];
	gmtime_r(&t, &tm);
	size_t n = strftime(line, sizeof(line), "From MAILER-DAEMON %a %b %e %H:%M:%S %Y\n", &tm);
	return put(w, line, n, err);
}

int mailfmt_writer_begin(struct mailfmt_writer *w, const char *mailbox, unsigned flags,
                         const char *const *keywords, size_t nkeywords, int64_t received,
                         struct error *err)
{
	if (w->in_msg)
		return error_set(err, ERR_INVALID, "a message is already open");
	if (check_name(w->kind, mailbox, err) < 0)
		return -1;
	if (w->mailbox == NULL || strcmp(w->mailbox, mailbox) != 0) {
		if (box_close(w, err) < 0 || box_open(w, mailbox, err) < 0)
			return -1;
	}
	arena_reset(w->msg_arena);
	w->received = received;
	w->held_cr = false;
	w->bol = true;
	w->gt = w->from_match = 0;
	w->written = 0;
	w->last = '\n';
	int r = w->kind == MAILFMT_MBOX ? mbox_begin(w, flags, keywords, nkeywords, err)
	                                : maildir_begin(w, flags, keywords, nkeywords, err);
	if (r < 0)
		return -1;
	w->written = 0;
	w->in_msg = true;
	return 0;
}

static int write_lf(struct mailfmt_writer *w, const char *p, size_t n, struct error *err)
{
	if (w->kind != MAILFMT_MBOX)
		return put(w, p, n, err);
	for (size_t i = 0; i < n; i++)
		if (put_quoted(w, p[i], err) < 0)
			return -1;
	return 0;
}

/* Writes message bytes (CRLF) converted to LF, quoted for mbox. */
static int write_conv(struct mailfmt_writer *w, const char *p, size_t n, struct error *err)
{
	char conv[4096 + 1];
	while (n > 0) {
		size_t k = n < sizeof(conv) - 1 ? n : sizeof(conv) - 1;
		size_t m = crlf_to_lf(&w->held_cr, p, k, conv);
		if (write_lf(w, conv, m, err) < 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

/* ---- mbox: the flag headers of a message ---- */

/* The length of a header line of n bytes as it reads back, without its line
 * ending: the LF goes, with the CR of a CRLF, and one more CR before it
 * (written "\r\n", it reads back as the line ending). A last line without
 * LF gets one from the writer, so one CR goes. */
static size_t hdr_body_len(const char *p, size_t n)
{
	int crs = 1;
	if (n > 0 && p[n - 1] == '\n') {
		n--;
		crs = 2;
	}
	for (; crs > 0 && n > 0 && p[n - 1] == '\r'; crs--)
		n--;
	return n;
}

/* The searched part ends at byte at of the held header. */
static void hdr_stop(struct mailfmt_writer *w, size_t at, bool blank)
{
	w->hdr_on = false;
	w->hdr_end = at;
	w->hdr_blank = blank;
}

/* The line from hdr_line to the end of hdr was taken (whole, or the last
 * line of the message): is it searched, and does the searched part end? */
static void hdr_line_end(struct mailfmt_writer *w)
{
	const char *line = w->hdr.data + w->hdr_line;
	size_t raw = w->hdr.len - w->hdr_line;
	size_t len = hdr_body_len(line, raw);
	if (len == 0 || !mbox_hdr_searched(w->hdr_off, len + 2)) {
		hdr_stop(w, w->hdr_line, len == 0 && line[raw - 1] == '\n');
		return;
	}
	w->hdr_off += len + 2;
	w->hdr_line = w->hdr.len;
	if (w->hdr_off > MAILFMT_MBOX_HEADER_SCAN_MAX)
		hdr_stop(w, w->hdr.len, false);  /* the next line is not searched */
}

/* Holds message bytes while the searched part of the header lasts. Returns
 * the bytes taken. */
static size_t hdr_take(struct mailfmt_writer *w, const char *p, size_t n)
{
	size_t used = 0;
	while (used < n && w->hdr_on) {
		size_t k = n - used, room = HDR_LINE_RAW_MAX - (w->hdr.len - w->hdr_line);
		if (k > room)
			k = room;
		const char *lf = memchr(p + used, '\n', k);
		if (lf != NULL)
			k = (size_t)(lf - (p + used)) + 1;
		if (buf_append(&w->hdr, p + used, k) < 0)
			abort();  /* HDR_HELD_MAX covers the searched part and a line */
		used += k;
		if (lf != NULL)
			hdr_line_end(w);
		else if (w->hdr.len - w->hdr_line == HDR_LINE_RAW_MAX)
			hdr_stop(w, w->hdr_line, false);  /* a long line */
	}
	return used;
}

/* The next line of the held header at off: *n bytes with its LF, *len as
 * read back without line ending. */
static const char *hdr_next(const struct mailfmt_writer *w, size_t off, size_t *n, size_t *len)
{
	const char *p = w->hdr.data + off;
	const char *lf = memchr(p, '\n', w->hdr_end - off);
	*n = lf != NULL ? (size_t)(lf - p) + 1 : w->hdr_end - off;
	*len = hdr_body_len(p, *n);
	return p;
}

static bool kw_same(const struct kwlist *a, const struct kwlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		size_t j = 0;
		while (j < b->n && strcasecmp(a->kw[i], b->kw[j]) != 0)
			j++;
		if (j == b->n)
			return false;
	}
	return true;
}

static const unsigned XSTATUS_FLAGS = MAILFMT_ANSWERED | MAILFMT_FLAGGED | MAILFMT_DRAFT |
                                      MAILFMT_DELETED;

/* Appends the generated line for fh (CRLF), from the flags to write. */
static void flaghdr_gen(struct mailfmt_writer *w, enum flaghdr fh, struct buf *b)
{
	unsigned f = w->want_flags;
	if (fh == FH_STATUS) {
		buf_appendf(b, "Status: %sO\r\n", (f & MAILFMT_SEEN) ? "R" : "");
	} else if (fh == FH_XSTATUS) {
		buf_appendf(b, "X-Status: %s%s%s%s\r\n", (f & MAILFMT_ANSWERED) ? "A" : "",
		            (f & MAILFMT_FLAGGED) ? "F" : "", (f & MAILFMT_DRAFT) ? "T" : "",
		            (f & MAILFMT_DELETED) ? "D" : "");
	} else {
		/* RFC 5322 §2.1.1: lines should stay within 78 characters */
		size_t col = strlen("X-Keywords:");
		buf_append_str(b, "X-Keywords:");
		for (size_t i = 0; i < w->want_kw->n; i++) {
			size_t len = strlen(w->want_kw->kw[i]);
			if (i > 0 && col + 1 + len > 78) {
				buf_append_str(b, "\r\n");
				col = 0;
			}
			buf_appendf(b, " %s", w->want_kw->kw[i]);
			col += 1 + len;
		}
		buf_append_str(b, w->want_kw->n == 0 ? " \r\n" : "\r\n");
	}
}

/* Whether the flag header fh says something, so that it is added when the
 * header has none. */
static bool flaghdr_needed(const struct mailfmt_writer *w, enum flaghdr fh)
{
	if (fh == FH_STATUS)
		return (w->want_flags & MAILFMT_SEEN) != 0;
	if (fh == FH_XSTATUS)
		return (w->want_flags & XSTATUS_FLAGS) != 0;
	return w->want_kw->n > 0;
}

/* Which names keep their lines (keep), and which get a line added (add). */
static void hdr_decide(struct mailfmt_writer *w, bool *keep, bool *add)
{
	struct flagscan fs;
	flagscan_init(&fs, w->msg_arena);
	for (size_t off = 0, n, len; off < w->hdr_end; off += n) {
		const char *line = hdr_next(w, off, &n, &len);
		(void)flagscan_line(&fs, line, len);
	}
	flagscan_end(&fs);
	bool same[FH_COUNT] = {
		(fs.status & MAILFMT_SEEN) == (w->want_flags & MAILFMT_SEEN),
		fs.xstatus == (w->want_flags & XSTATUS_FLAGS),
		kw_same(fs.kw, w->want_kw),
	};
	for (int i = 0; i < FH_COUNT; i++) {
		keep[i] = !fs.present[i] || same[i];
		add[i] = !fs.present[i] && flaghdr_needed(w, (enum flaghdr)i);
	}
	flagscan_free(&fs);
}

/* Where added lines go: before the empty line ending the header, else
 * before the first line that starts a field (not a continuation). */
static size_t hdr_insert_at(const struct mailfmt_writer *w)
{
	if (w->hdr_blank)
		return w->hdr_end;
	for (size_t off = 0, n, len; off < w->hdr_end; off += n) {
		const char *line = hdr_next(w, off, &n, &len);
		if (line[0] != ' ' && line[0] != '\t')
			return off;
	}
	return w->hdr_end;
}

static void hdr_added(struct mailfmt_writer *w, const bool *add, struct buf *out)
{
	for (int i = 0; i < FH_COUNT; i++)
		if (add[i])
			flaghdr_gen(w, (enum flaghdr)i, out);
}

/* Writes the held header with its flag headers made to agree with the
 * flags, then the rest of what is held. */
static int hdr_flush(struct mailfmt_writer *w, struct error *err)
{
	bool keep[FH_COUNT], add[FH_COUNT], done[FH_COUNT] = {false};
	hdr_decide(w, keep, add);
	size_t ins = hdr_insert_at(w);
	struct buf out;
	buf_init(&out, BUF_UNBOUNDED);  /* the header with its changes: bounded by hdr */
	enum flaghdr cur = FH_NONE;
	for (size_t off = 0, n, len; off < w->hdr_end; off += n) {
		const char *line = hdr_next(w, off, &n, &len);
		if (off == ins)
			hdr_added(w, add, &out);
		size_t vstart;
		/* the same fields as flagscan_line finds */
		if (!((line[0] == ' ' || line[0] == '\t') && cur != FH_NONE))
			cur = flaghdr_of(line, len, &vstart);
		if (cur != FH_NONE && !keep[cur]) {
			if (!done[cur])
				flaghdr_gen(w, cur, &out);
			done[cur] = true;
			continue;
		}
		buf_append(&out, line, n);
	}
	if (ins == w->hdr_end) {
		if (out.len > 0 && out.data[out.len - 1] != '\n')
			buf_append_str(&out, "\r\n");  /* the last line, ended as it would be */
		hdr_added(w, add, &out);
	}
	buf_append(&out, w->hdr.data + w->hdr_end, w->hdr.len - w->hdr_end);
	int r = write_conv(w, out.data, out.len, err);
	buf_free(&out);
	buf_reset(&w->hdr);
	return r;
}

int mailfmt_writer_write(struct mailfmt_writer *w, const void *data, size_t n,
                         struct error *err)
{
	if (!w->in_msg)
		return error_set(err, ERR_INVALID, "no message is open");
	const char *p = data;
	if (w->kind == MAILFMT_MBOX && w->hdr_on) {
		size_t k = hdr_take(w, p, n);
		p += k;
		n -= k;
		if (!w->hdr_on && hdr_flush(w, err) < 0)
			return -1;
	}
	return write_conv(w, p, n, err);
}

static int maildir_end_dir(struct mailfmt_writer *w, struct error *err)
{
	int r = 0;
	if (w->received >= 0) {
		struct timespec ts[2] = {{(time_t)w->received, 0}, {(time_t)w->received, 0}};
		if (futimens(w->msg_fd, ts) != 0)
			r = error_errno(err, errno, "setting the time of %s", w->tmp_path);
	}
	if (r == 0 && fsync(w->msg_fd) != 0)
		r = error_errno(err, errno, "syncing %s", w->tmp_path);
	close(w->msg_fd);
	w->msg_fd = -1;
	if (r == 0 && rename(w->tmp_path, w->final_path) != 0)
		r = error_errno(err, errno, "renaming %s", w->tmp_path);
	if (r == 0)
		r = file_sync_parent_dir(w->final_path, err);
	return r;
}

int mailfmt_writer_end(struct mailfmt_writer *w, struct error *err)
{
	if (!w->in_msg)
		return error_set(err, ERR_INVALID, "no message is open");
	w->in_msg = false;
	if (w->kind == MAILFMT_MBOX && w->hdr_on) {
		if (w->hdr.len > w->hdr_line)
			hdr_line_end(w);  /* the last line, without line ending */
		if (w->hdr_on)
			hdr_stop(w, w->hdr.len, false);
		if (hdr_flush(w, err) < 0)
			return -1;
	}
	if (w->held_cr && write_lf(w, "\r", 1, err) < 0)
		return -1;
	w->held_cr = false;
	if (w->kind == MAILFMT_MBOX) {
		if (quote_flush(w, err) < 0)
			return -1;
		if (w->written > 0 && w->last != '\n' && put(w, "\n", 1, err) < 0)
			return -1;
		return put(w, "\n", 1, err) < 0 ? -1 : flush(w, err);
	}
	if (flush(w, err) < 0)
		return -1;
	return w->arc != NULL ? arc_wr_end(w->arc, err) : maildir_end_dir(w, err);
}

/* ---- open and close ---- */

static void host_name(char *dst, size_t size)
{
	char h[200];
	if (gethostname(h, sizeof(h)) != 0)
		strcpy(h, "localhost");
	h[sizeof(h) - 1] = '\0';
	size_t o = 0;
	for (const char *p = h; *p != '\0' && o + 5 < size; p++) {
		if (*p == '/')
			o += (size_t)snprintf(dst + o, size - o, "\\057");  /* maildir spec */
		else if (*p == ':')
			o += (size_t)snprintf(dst + o, size - o, "\\072");
		else
			dst[o++] = *p;
	}
	dst[o] = '\0';
}

static int dest_dir_prepare(const char *dest, struct error *err)
{
	DIR *d = opendir(dest);
	if (d != NULL) {
		struct dirent *de;
		int n = 0;
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				n++;
		closedir(d);
		if (n > 0)
			return error_set(err, ERR_INVALID, "%s exists and is not empty", dest);
		return 0;
	}
	return file_mkdir_all(dest, 0700, err);
}

int mailfmt_writer_open(enum mailfmt_kind kind, enum mailfmt_archive archive,
                        const char *dest, struct mailfmt_writer **w_r, struct error *err)
{
	if (kind != MAILFMT_MBOX && kind != MAILFMT_MAILDIR)
		return error_set(err, ERR_INVALID, "export format must be mbox or maildir");
	struct mailfmt_writer *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->dest = strdup(dest)) == NULL)
		abort();
	w->kind = kind;
	w->archive = archive;
	w->mbox_fd = w->msg_fd = -1;
	w->arena = arena_new(4096, ARENA_PLAIN);
	w->box_arena = arena_new(4096, ARENA_PLAIN);
	w->msg_arena = arena_new(4096, ARENA_PLAIN);
	buf_init(&w->hdr, HDR_HELD_MAX);
	host_name(w->host, sizeof(w->host));
	int r = archive == MAILFMT_ARCHIVE_NONE ? dest_dir_prepare(dest, err)
	                                        : arc_wr_open(archive, dest, &w->arc, err);
	if (r < 0) {
		mailfmt_writer_free(&w);
		return -1;
	}
	*w_r = w;
	return 0;
}

int mailfmt_writer_close(struct mailfmt_writer **wp, struct error *err)
{
	struct mailfmt_writer *w = *wp;
	int r = 0;
	if (w->in_msg)
		r = error_set(err, ERR_INVALID, "closing with a message still open");
	if (r == 0)
		r = box_close(w, err);
	if (r == 0 && w->arc != NULL)
		r = arc_wr_close(&w->arc, err);
	mailfmt_writer_free(wp);
	return r;
}

void mailfmt_writer_free(struct mailfmt_writer **wp)
{
	struct mailfmt_writer *w = *wp;
	if (w == NULL)
		return;
	if (w->mbox_fd >= 0)
		close(w->mbox_fd);
	if (w->msg_fd >= 0)
		close(w->msg_fd);
	arc_wr_free(&w->arc);
	free(w->done);
	free(w->dest);
	arena_free(&w->arena);
	arena_free(&w->box_arena);
	arena_free(&w->msg_arena);
	buf_free(&w->hdr);
	free(w);
	*wp = NULL;
}
