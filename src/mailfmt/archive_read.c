/*
 * archive_read.c: messages from zip and tar.gz archives (libarchive),
 * holding mbox files, maildirs or both; mailbox names come from the paths
 * inside, with the rules of mailfmt.h.
 *
 * The archive is read twice: a first pass collects the dovecot-keywords
 * files (they may come after the messages they describe), the second reads
 * the messages in archive order (a maildir in an archive is not sorted: that
 * would need all names first; archives written by tern are in order).
 * Entries are streamed; nothing is extracted to disk.
 *
 * Paths are checked before use: an absolute path, a ".." component or more
 * than MAILFMT_PATH_DEPTH_MAX levels make the archive invalid (they cannot
 * come from an honest export and would be misread as mailbox names).
 * Other entries are skipped: directories, links, files in tmp/, Dovecot's
 * index files, and files that are neither in cur/ or new/ nor start with
 * "From ".
 */
#include "mailfmt/internal.h"

#include "core/log.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

/* Largest dovecot-keywords file read (26 names at most). */
#define ARC_KEYWORDS_FILE_MAX (64 * 1024)
/* Most dovecot-keywords files kept from one archive (each map takes up to
 * 26 * MAILFMT_KEYWORD_LEN_MAX bytes); later ones are ignored with a warning. */
#define ARC_KEYWORD_DIRS_MAX 10000

struct kwdir {
	const char *dir;
	const char *map[26];
};

struct arc_rd {
	const char *path;
	struct mailfmt_reader_opts opts;
	struct archive *ar;
	struct arena *arena;        /* reader lifetime: keyword maps */
	struct arena *entry_arena;  /* the current entry */
	struct kwdir *kwdirs;
	size_t nkw, cap_kw;
	struct fmt_src src;
	char peek[5];
	size_t peek_len, peek_off;
	struct plain_rd plain;
	struct mbox_rd *mbox;
	const char *mbox_name;
	bool plain_msg;
};

static ssize_t arc_data_read(void *ctx, void *buf, size_t n, struct error *err)
{
	struct arc_rd *a = ctx;
	if (a->peek_off < a->peek_len) {
		size_t k = a->peek_len - a->peek_off;
		if (k > n)
			k = n;
		memcpy(buf, a->peek + a->peek_off, k);
		a->peek_off += k;
		return (ssize_t)k;
	}
	la_ssize_t r = archive_read_data(a->ar, buf, n);
	if (r < 0)
		return error_set(err, ERR_INVALID, "%s: %s", a->path, archive_error_string(a->ar));
	return (ssize_t)r;
}

static int arc_open_pass(struct arc_rd *a, struct error *err)
{
	if (a->ar != NULL)
		archive_read_free(a->ar);
	a->ar = archive_read_new();
	if (a->ar == NULL)
		abort();
	archive_read_support_filter_gzip(a->ar);
	archive_read_support_filter_none(a->ar);
	archive_read_support_format_zip(a->ar);
	archive_read_support_format_tar(a->ar);
	if (archive_read_open_filename(a->ar, a->path, FMT_CHUNK) != ARCHIVE_OK)
		return error_set(err, ERR_INVALID, "%s: %s", a->path, archive_error_string(a->ar));
	return 0;
}

/* The next entry's checked path components. Returns 1, 0 at the end, -1. */
static int arc_next_entry(struct arc_rd *a, struct arena *ar, const char **comps, int *n_r,
                          bool *regular, int64_t *mtime, struct error *err)
{
	struct archive_entry *e;
	int r = archive_read_next_header(a->ar, &e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return error_set(err, ERR_INVALID, "%s: %s", a->path, archive_error_string(a->ar));
	const char *name = archive_entry_pathname_utf8(e);
	if (name == NULL)
		name = archive_entry_pathname(e);
	if (name == NULL)
		return error_set(err, ERR_INVALID, "%s: entry without a readable name", a->path);
	*n_r = mbxname_split(ar, name, comps);
	if (*n_r < 0)
		return error_set(err, ERR_INVALID, "%s: refusing entry %.200s (absolute, \"..\" "
		                 "or deeper than %d levels)", a->path, name, MAILFMT_PATH_DEPTH_MAX);
	*regular = archive_entry_filetype(e) == AE_IFREG && *n_r > 0;
	*mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : -1;
	return 1;
}

static char *join(struct arena *ar, const char *const *comps, int n)
{
	char *s = arena_strdup(ar, "");
	for (int i = 0; i < n; i++)
		s = arena_printf(ar, "%s%s%s", s, i > 0 ? "/" : "", comps[i]);
	return s;
}

static void add_kwdir(struct arc_rd *a, const char *const *comps, int n)
{
	char *data = arena_alloc(a->entry_arena, ARC_KEYWORDS_FILE_MAX);
	la_ssize_t len = archive_read_data(a->ar, data, ARC_KEYWORDS_FILE_MAX);
	if (len <= 0)
		return;
	if (a->nkw == ARC_KEYWORD_DIRS_MAX) {
		log_msgf(LOG_WARN, "mailfmt", "import: more than %d dovecot-keywords files, "
		         "ignoring the rest", ARC_KEYWORD_DIRS_MAX);
		return;
	}
	if (a->nkw == a->cap_kw) {
		a->cap_kw = a->cap_kw == 0 ? 8 : a->cap_kw * 2;
		a->kwdirs = realloc(a->kwdirs, a->cap_kw * sizeof(*a->kwdirs));
		if (a->kwdirs == NULL)
			abort();
	}
	struct kwdir *k = &a->kwdirs[a->nkw++];
	memset(k, 0, sizeof(*k));
	k->dir = join(a->arena, comps, n - 1);
	dovecot_keywords_parse(a->arena, data, (size_t)len, k->map);
}

/* First pass: the dovecot-keywords files. */
static int arc_scan_keywords(struct arc_rd *a, struct error *err)
{
	for (;;) {
		arena_reset(a->entry_arena);
		const char *comps[MAILFMT_PATH_DEPTH_MAX];
		int n = 0;
		bool regular = false;
		int64_t mtime = -1;
		int r = arc_next_entry(a, a->entry_arena, comps, &n, &regular, &mtime, err);
		if (r <= 0)
			return r;
		if (regular && strcmp(comps[n - 1], "dovecot-keywords") == 0)
			add_kwdir(a, comps, n);
	}
}

int arc_rd_open(const char *path, const struct mailfmt_reader_opts *opts,
                struct arc_rd **a_r, struct error *err)
{
	struct arc_rd *a = calloc(1, sizeof(*a));
	if (a == NULL)
		abort();
	a->opts = *opts;
	a->arena = arena_new(4096, ARENA_PLAIN);
	a->entry_arena = arena_new(4096, ARENA_PLAIN);
	a->path = arena_strdup(a->arena, path);
	a->src.read = arc_data_read;
	a->src.ctx = a;
	if (arc_open_pass(a, err) < 0 || arc_scan_keywords(a, err) < 0 ||
	    arc_open_pass(a, err) < 0) {
		arc_rd_free(&a);
		return -1;
	}
	*a_r = a;
	return 0;
}

static const char *const *kwmap_for(const struct arc_rd *a, const char *dir)
{
	for (size_t i = 0; i < a->nkw; i++)
		if (strcmp(a->kwdirs[i].dir, dir) == 0)
			return a->kwdirs[i].map;
	return NULL;
}

static bool is_dir_name(const char *c, const char *name)
{
	return strcmp(c, name) == 0;
}

/* A maildir file: flags from its name, mtime as received time. */
static int arc_maildir_msg(struct arc_rd *a, struct arena *ar, const char *const *comps,
                           int n, int64_t mtime, struct mailfmt_msg *msg, struct error *err)
{
	msg->mailbox = mbxname_maildir(ar, comps, (size_t)n - 2);
	if (msg->mailbox == NULL)
		return error_set(err, ERR_LIMIT, "%s: mailbox name longer than %d bytes", a->path,
		                 MAILFMT_MAILBOX_NAME_MAX);
	const char *const *map = kwmap_for(a, join(ar, comps, n - 2));
	const char **kw = arena_alloc(ar, MAILFMT_KEYWORDS_MAX * sizeof(*kw));
	msg->flags = mailfmt_maildir_info(comps[n - 1], map, kw, &msg->nkeywords);
	msg->keywords = kw;
	msg->received = mtime;
	a->peek_len = a->peek_off = 0;
	plain_rd_init(&a->plain, &a->src);
	a->plain_msg = true;
	return 1;
}

/* Reads up to 5 bytes of the entry into peek (replayed by arc_data_read). */
static int arc_peek(struct arc_rd *a, struct error *err)
{
	a->peek_len = a->peek_off = 0;
	while (a->peek_len < sizeof(a->peek)) {
		la_ssize_t r = archive_read_data(a->ar, a->peek + a->peek_len,
		                                 sizeof(a->peek) - a->peek_len);
		if (r < 0)
			return error_set(err, ERR_INVALID, "%s: %s", a->path,
			                 archive_error_string(a->ar));
		if (r == 0)
			break;
		a->peek_len += (size_t)r;
	}
	return 0;
}

/* Classifies the next entry: 1 a maildir message (msg filled) or an mbox
 * opened, 0 skipped, 2 end of archive, -1 error. */
static int arc_entry(struct arc_rd *a, struct mailfmt_msg *msg, struct arena *ar,
                     struct error *err)
{
	arena_reset(a->entry_arena);
	const char *comps[MAILFMT_PATH_DEPTH_MAX];
	int n = 0;
	bool regular = false;
	int64_t mtime = -1;
	int r = arc_next_entry(a, a->entry_arena, comps, &n, &regular, &mtime, err);
	if (r <= 0)
		return r < 0 ? -1 : 2;
	if (!regular || comps[n - 1][0] == '.')
		return 0;
	if (n >= 2 && (is_dir_name(comps[n - 2], "cur") || is_dir_name(comps[n - 2], "new")))
		return arc_maildir_msg(a, ar, comps, n, mtime, msg, err);
	if (arc_peek(a, err) < 0)
		return -1;
	if (a->peek_len < 5 || memcmp(a->peek, "From ", 5) != 0)
		return 0;
	a->mbox_name = mbxname_mbox(a->entry_arena, comps, (size_t)n);
	if (a->mbox_name == NULL)
		return error_set(err, ERR_LIMIT, "%s: mailbox name longer than %d bytes", a->path,
		                 MAILFMT_MAILBOX_NAME_MAX);
	a->mbox = mbox_rd_new(&a->src, &a->opts);
	return 1;
}

int arc_rd_next(struct arc_rd *a, struct arena *ar, struct mailfmt_msg *msg,
                struct error *err)
{
	a->plain_msg = false;
	for (;;) {
		if (a->mbox != NULL) {
			int r = mbox_rd_next(a->mbox, ar, msg, err);
			if (r != 0) {
				msg->mailbox = a->mbox_name;
				return r;
			}
			mbox_rd_free(&a->mbox);
		}
		int r = arc_entry(a, msg, ar, err);
		if (r < 0 || r == 2)
			return r < 0 ? -1 : 0;
		if (r == 1 && a->mbox == NULL)
			return 1;
	}
}

ssize_t arc_rd_read(struct arc_rd *a, char *buf, size_t size, struct error *err)
{
	if (a->mbox != NULL)
		return mbox_rd_read(a->mbox, buf, size, err);
	if (a->plain_msg)
		return plain_rd_read(&a->plain, buf, size, err);
	return 0;
}

uint64_t arc_rd_offset(const struct arc_rd *a)
{
	return a->ar != NULL ? (uint64_t)archive_filter_bytes(a->ar, -1) : 0;
}

void arc_rd_free(struct arc_rd **ap)
{
	struct arc_rd *a = *ap;
	if (a == NULL)
		return;
	mbox_rd_free(&a->mbox);
	if (a->ar != NULL)
		archive_read_free(a->ar);
	free(a->kwdirs);
	arena_free(&a->arena);
	arena_free(&a->entry_arena);
	free(a);
	*ap = NULL;
}
