/*
 * reader.c: the message iterator over mbox files, maildirs, directories of
 * them and directories of message files (archives: archive_read.c).
 *
 * A directory source is walked once at open (depth at most
 * MAILFMT_PATH_DEPTH_MAX, entries in name order, symbolic links to
 * directories not followed) into a list of mailboxes;
 * then each mailbox is read in turn. A maildir's file names are listed and
 * sorted when the reader reaches it (see mailfmt.h for the order); message
 * bytes always stream. Naming rules are in mailfmt.h and flags.c.
 */
#include "mailfmt/internal.h"

#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest dovecot-keywords file read (26 names at most). */
#define DOVECOT_KEYWORDS_MAX (64 * 1024)

struct mbx {
	const char *name;
	const char *path;
	enum mailfmt_kind kind;  /* MBOX, MAILDIR or FILES */
};

struct mailfmt_reader {
	struct mailfmt_reader_opts opts;
	struct arena *arena;      /* lives with the reader: the mailbox list */
	struct arena *box_arena;  /* the current mailbox: file names, keywords */
	struct arena *msg_arena;  /* the current message */
	struct mbx *mbx;
	size_t nmbx, cap_mbx, cur;  /* cur: index + 1 of the open mailbox */
	/* the open mailbox */
	struct mbox_rd *mbox;
	const char **files;
	size_t nfiles, cap_files, file_i;
	const char *kwmap[26];
	int fd;
	struct fmt_src src;
	struct plain_rd plain;
	bool plain_msg;           /* a plain file message is open */
	uint64_t done_bytes;      /* consumed by closed files */
	struct arc_rd *arc;
};

static ssize_t fd_read(void *ctx, void *buf, size_t n, struct error *err)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t r = read(fd, buf, n);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return error_errno(err, errno, "reading");
	}
}

static struct mailfmt_reader *reader_new(const struct mailfmt_reader_opts *opts)
{
	struct mailfmt_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	if (opts != NULL)
		r->opts = *opts;
	r->arena = arena_new(4096, ARENA_PLAIN);
	r->box_arena = arena_new(64 * 1024, ARENA_PLAIN);
	r->msg_arena = arena_new(4096, ARENA_PLAIN);
	r->fd = -1;
	r->src.read = fd_read;
	r->src.ctx = &r->fd;
	return r;
}

static void *grow(void *p, size_t *cap, size_t elem)
{
	*cap = *cap == 0 ? 64 : *cap * 2;
	void *q = realloc(p, *cap * elem);
	if (q == NULL)
		abort();
	return q;
}

static int add_mbx(struct mailfmt_reader *r, const char *name, const char *path,
                   enum mailfmt_kind kind, struct error *err)
{
	if (name == NULL)
		return error_set(err, ERR_LIMIT, "%s: mailbox name longer than %d bytes",
		                 path, MAILFMT_MAILBOX_NAME_MAX);
	if (r->nmbx == MAILFMT_MAILBOXES_MAX)
		return error_set(err, ERR_LIMIT, "more than %d mailboxes", MAILFMT_MAILBOXES_MAX);
	if (r->nmbx == r->cap_mbx)
		r->mbx = grow(r->mbx, &r->cap_mbx, sizeof(*r->mbx));
	r->mbx[r->nmbx++] = (struct mbx){name, arena_strdup(r->arena, path), kind};
	return 0;
}

/* Whether path is a file whose first bytes are "From ". */
static bool starts_with_from(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char b[5];
	ssize_t n = read(fd, b, sizeof(b));
	close(fd);
	return n == 5 && memcmp(b, "From ", 5) == 0;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_maildir(struct arena *a, const char *dir)
{
	return is_dir(arena_printf(a, "%s/cur", dir)) || is_dir(arena_printf(a, "%s/new", dir));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in dir (no "." and ".."), sorted, in arena; *n_r their count. */
static const char **list_dir(struct arena *a, const char *dir, size_t *n_r,
                             struct error *err)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		error_errno(err, errno, "opening directory %s", dir);
		return NULL;
	}
	size_t n = 0, cap = 0;
	const char **names = NULL;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap)
			names = grow(names, &cap, sizeof(*names));
		names[n++] = arena_strdup(a, de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	const char **out = arena_alloc(a, (n + 1) * sizeof(*out));
	if (n > 0)
		memcpy(out, names, n * sizeof(*out));
	free(names);
	*n_r = n;
	return out;
}

static int walk(struct mailfmt_reader *r, const char *dir, const char **comps, size_t n,
                struct error *err);

static int walk_entry(struct mailfmt_reader *r, const char *dir, const char *name,
                      const char **comps, size_t n, bool maildir, struct error *err)
{
	if (maildir && (strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 ||
	                strcmp(name, "tmp") == 0))
		return 0;
	const char *path = arena_printf(r->arena, "%s/%s", dir, name);
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;  /* vanished */
	bool link = S_ISLNK(st.st_mode);
	if (link && stat(path, &st) != 0)
		return 0;  /* a dangling link */
	if (link && S_ISDIR(st.st_mode))
		return 0;  /* not followed: links could make the walk loop or explode */
	if (n == MAILFMT_PATH_DEPTH_MAX)
		return error_set(err, ERR_LIMIT, "%s: deeper than %d levels", path,
		                 MAILFMT_PATH_DEPTH_MAX);
	comps[n] = name;
	if (S_ISDIR(st.st_mode))
		return walk(r, path, comps, n + 1, err);
	if (S_ISREG(st.st_mode) && name[0] != '.' && starts_with_from(path))
		return add_mbx(r, mbxname_mbox(r->arena, comps, n + 1), path, MAILFMT_MBOX, err);
	return 0;
}

static int walk(struct mailfmt_reader *r, const char *dir, const char **comps, size_t n,
                struct error *err)
{
	bool maildir = is_maildir(r->arena, dir);
	if (maildir && add_mbx(r, mbxname_maildir(r->arena, comps, n), dir, MAILFMT_MAILDIR,
	                       err) < 0)
		return -1;
	size_t count;
	const char **names = list_dir(r->arena, dir, &count, err);
	if (names == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (walk_entry(r, dir, names[i], comps, n, maildir, err) < 0)
			return -1;
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static enum mailfmt_kind detect_file(const char *path)
{
	if (has_suffix(path, ".zip"))
		return MAILFMT_ZIP;
	if (has_suffix(path, ".tgz") || has_suffix(path, ".tar.gz"))
		return MAILFMT_TGZ;
	return MAILFMT_MBOX;
}

static int open_file_source(struct mailfmt_reader *r, enum mailfmt_kind kind,
                            const char *path, struct error *err)
{
	if (kind == MAILFMT_AUTO)
		kind = detect_file(path);
	if (kind == MAILFMT_ZIP || kind == MAILFMT_TGZ)
		return arc_rd_open(path, &r->opts, &r->arc, err);
	if (kind != MAILFMT_MBOX)
		return error_set(err, ERR_INVALID, "%s is a file, not a directory", path);
	return add_mbx(r, "Inbox", path, MAILFMT_MBOX, err);
}

int mailfmt_reader_open(enum mailfmt_kind kind, const char *path,
                        const struct mailfmt_reader_opts *opts,
                        struct mailfmt_reader **r_r, struct error *err)
{
	struct stat st;
	if (stat(path, &st) != 0 && errno == ENOENT)
		return error_set(err, ERR_NOTFOUND, "%s does not exist", path);
	if (stat(path, &st) != 0)
		return error_errno(err, errno, "%s", path);
	struct mailfmt_reader *r = reader_new(opts);
	int ret;
	if (!S_ISDIR(st.st_mode)) {
		enum mailfmt_kind k = kind == MAILFMT_AUTO ? detect_file(path) : kind;
		if (kind == MAILFMT_AUTO && k == MAILFMT_MBOX && st.st_size > 0 &&
		    !starts_with_from(path))
			ret = error_set(err, ERR_INVALID, "%s: not an mbox file (no \"From \" line)",
			                path);
		else
			ret = open_file_source(r, k, path, err);
	} else if (kind == MAILFMT_FILES) {
		ret = add_mbx(r, "Inbox", path, MAILFMT_FILES, err);
	} else if (kind == MAILFMT_ZIP || kind == MAILFMT_TGZ) {
		ret = error_set(err, ERR_INVALID, "%s is a directory, not an archive", path);
	} else {
		const char *comps[MAILFMT_PATH_DEPTH_MAX];
		ret = walk(r, path, comps, 0, err);
	}
	if (ret < 0) {
		mailfmt_reader_free(&r);
		return error_prefix(err, "opening %s", path);
	}
	*r_r = r;
	return 0;
}

/* ---- the open mailbox ---- */

static void close_file(struct mailfmt_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->done_bytes += r->src.consumed;
	r->src.consumed = 0;
	r->plain_msg = false;
}

static void close_mailbox(struct mailfmt_reader *r)
{
	mbox_rd_free(&r->mbox);
	close_file(r);
	free(r->files);
	r->files = NULL;
	r->nfiles = r->cap_files = r->file_i = 0;
	memset(r->kwmap, 0, sizeof(r->kwmap));
	arena_reset(r->box_arena);
}

static void read_keywords_file(struct mailfmt_reader *r, const char *dir)
{
	const char *path = arena_printf(r->box_arena, "%s/dovecot-keywords", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char *data = arena_alloc(r->box_arena, DOVECOT_KEYWORDS_MAX);
	ssize_t n = read(fd, data, DOVECOT_KEYWORDS_MAX);
	close(fd);
	if (n > 0)
		dovecot_keywords_parse(r->box_arena, data, (size_t)n, r->kwmap);
}

/* The leading timestamp of a maildir name ("1700000000.M1P2.host:2,S"). */
static unsigned long long name_time(const char *path)
{
	const char *base = strrchr(path, '/');
	return strtoull(base != NULL ? base + 1 : path, NULL, 10);
}

/* Compares names with runs of digits compared as numbers. */
static int natural_cmp(const char *a, const char *b)
{
	while (*a != '\0' && *b != '\0') {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			char *ea, *eb;
			unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
			if (x != y)
				return x < y ? -1 : 1;
			a = ea;
			b = eb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_maildir(const void *pa, const void *pb)
{
	const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
	unsigned long long ta = name_time(a), tb = name_time(b);
	if (ta != tb)
		return ta < tb ? -1 : 1;
	const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
	return natural_cmp(ba != NULL ? ba + 1 : a, bb != NULL ? bb + 1 : b);
}

/* Adds the regular files of dir (not starting with '.') to the file list. */
static int list_files(struct mailfmt_reader *r, const char *dir, struct error *err)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : error_errno(err, errno, "opening directory %s", dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		if (r->nfiles == MAILFMT_MAILDIR_FILES_MAX) {
			closedir(d);
			return error_set(err, ERR_LIMIT, "%s: more than %d files", dir,
			                 MAILFMT_MAILDIR_FILES_MAX);
		}
		if (r->nfiles == r->cap_files)
			r->files = grow(r->files, &r->cap_files, sizeof(*r->files));
		r->files[r->nfiles++] = arena_printf(r->box_arena, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	return 0;
}

static int open_mailbox(struct mailfmt_reader *r, const struct mbx *m, struct error *err)
{
	if (m->kind == MAILFMT_MBOX) {
		r->fd = open(m->path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0)
			return error_errno(err, errno, "opening %s", m->path);
		r->mbox = mbox_rd_new(&r->src, &r->opts);
		return 0;
	}
	if (m->kind == MAILFMT_FILES) {
		if (list_files(r, m->path, err) < 0)
			return -1;
		if (r->nfiles > 1)  /* qsort's base must not be NULL, even for 0 items */
			qsort(r->files, r->nfiles, sizeof(*r->files), cmp_str);
		return 0;
	}
	read_keywords_file(r, m->path);
	if (list_files(r, arena_printf(r->box_arena, "%s/new", m->path), err) < 0 ||
	    list_files(r, arena_printf(r->box_arena, "%s/cur", m->path), err) < 0)
		return -1;
	if (r->nfiles > 1)
		qsort(r->files, r->nfiles, sizeof(*r->files), cmp_maildir);
	return 0;
}

/* Opens the next file of the open maildir or files mailbox as a message.
 * Returns 1, 0 when there are no more files, -1. */
static int next_file(struct mailfmt_reader *r, const struct mbx *m, struct mailfmt_msg *msg,
                     struct error *err)
{
	while (r->file_i < r->nfiles) {
		const char *path = r->files[r->file_i++];
		close_file(r);
		r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (r->fd < 0 || fstat(r->fd, &st) != 0) {
			if (errno == ENOENT || errno == ELOOP)
				continue;  /* moved away by a running MDA, or a symlink */
			return error_errno(err, errno, "opening %s", path);
		}
		if (!S_ISREG(st.st_mode))
			continue;
		msg->received = (int64_t)st.st_mtime;
		if (m->kind == MAILFMT_MAILDIR) {
			const char **kw = arena_alloc(r->msg_arena, MAILFMT_KEYWORDS_MAX * sizeof(*kw));
			const char *base = strrchr(path, '/') + 1;
			msg->nkeywords = 0;
			msg->flags = mailfmt_maildir_info(base, r->kwmap, kw, &msg->nkeywords);
			msg->keywords = kw;
		}
		plain_rd_init(&r->plain, &r->src);
		r->plain_msg = true;
		return 1;
	}
	return 0;
}

static int next_in_mailbox(struct mailfmt_reader *r, const struct mbx *m,
                           struct mailfmt_msg *msg, struct error *err)
{
	if (r->mbox != NULL)
		return mbox_rd_next(r->mbox, r->msg_arena, msg, err);
	return next_file(r, m, msg, err);
}

int mailfmt_reader_next(struct mailfmt_reader *r, struct mailfmt_msg *msg,
                        struct error *err)
{
	arena_reset(r->msg_arena);
	memset(msg, 0, sizeof(*msg));
	msg->received = -1;
	if (r->arc != NULL)
		return arc_rd_next(r->arc, r->msg_arena, msg, err);
	for (;;) {
		if (r->cur > 0) {
			const struct mbx *m = &r->mbx[r->cur - 1];
			int ret = next_in_mailbox(r, m, msg, err);
			if (ret < 0)
				return error_prefix(err, "%s", m->path);
			if (ret > 0) {
				msg->mailbox = m->name;
				return 1;
			}
			close_mailbox(r);
		}
		if (r->cur == r->nmbx)
			return 0;
		r->cur++;
		if (open_mailbox(r, &r->mbx[r->cur - 1], err) < 0)
			return -1;
	}
}

ssize_t mailfmt_reader_read(struct mailfmt_reader *r, void *buf, size_t size,
                            struct error *err)
{
	if (r->arc != NULL)
		return arc_rd_read(r->arc, buf, size, err);
	if (r->mbox != NULL)
		return mbox_rd_read(r->mbox, buf, size, err);
	if (r->plain_msg)
		return plain_rd_read(&r->plain, buf, size, err);
	return 0;
}

uint64_t mailfmt_reader_offset(const struct mailfmt_reader *r)
{
	if (r->arc != NULL)
		return arc_rd_offset(r->arc);
	return r->done_bytes + r->src.consumed;
}

void mailfmt_reader_free(struct mailfmt_reader **rp)
{
	struct mailfmt_reader *r = *rp;
	if (r == NULL)
		return;
	close_mailbox(r);
	arc_rd_free(&r->arc);
	free(r->mbx);
	arena_free(&r->arena);
	arena_free(&r->box_arena);
	arena_free(&r->msg_arena);
	free(r);
	*rp = NULL;
}
