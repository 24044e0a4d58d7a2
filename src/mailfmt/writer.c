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
 * Status, X-Status and X-Keywords headers from its flags, then the message
 * with every line matching /^>*From / given one more '>', then an empty
 * line. A message without a final line ending gets one.
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
	time_t t = w->received >= 0 ? (time_t)w->received : time(NULL);
	struct tm tm;
	char date[64];
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "From MAILER-DAEMON %s\nStatus: %sO\n", date,
	            (flags & MAILFMT_SEEN) ? "R" : "");
	if (flags & (MAILFMT_ANSWERED | MAILFMT_FLAGGED | MAILFMT_DRAFT | MAILFMT_DELETED))
		buf_appendf(&b, "X-Status: %s%s%s%s\n", (flags & MAILFMT_ANSWERED) ? "A" : "",
		            (flags & MAILFMT_FLAGGED) ? "F" : "", (flags & MAILFMT_DRAFT) ? "T" : "",
		            (flags & MAILFMT_DELETED) ? "D" : "");
	const char *sep = "X-Keywords: ";
	for (size_t i = 0; i < nkws && i < MAILFMT_KEYWORDS_MAX; i++) {
		if (!kw_ok(kws[i]))
			continue;
		buf_appendf(&b, "%s%s", sep, kws[i]);
		sep = " ";
	}
	if (sep[0] == ' ' && sep[1] == '\0')
		buf_append_str(&b, "\n");
	int r = put(w, b.data, b.len, err);
	buf_free(&b);
	return r;
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

int mailfmt_writer_write(struct mailfmt_writer *w, const void *data, size_t n,
                         struct error *err)
{
	if (!w->in_msg)
		return error_set(err, ERR_INVALID, "no message is open");
	const char *p = data;
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
	free(w);
	*wp = NULL;
}
