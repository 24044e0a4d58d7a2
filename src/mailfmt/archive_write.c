/*
 * archive_write.c: zip and tar.gz output for the writer (libarchive).
 *
 * Memory stays bounded: a zip entry streams with its sizes after the data
 * (a data descriptor, APPNOTE 4.3.9); a tar header must carry the size, so
 * a tar entry is first written to an unlinked temporary file in the
 * directory of the archive, then copied into the archive. For a maildir that
 * is one message at a time; for an mbox it is the mailbox (tar cannot do
 * better without the size up front). The archive file is created with
 * O_EXCL and synced when closed.
 */
#include "mailfmt/internal.h"

#include "core/file.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct arc_wr {
	enum mailfmt_archive kind;
	char *dest;
	int fd;
	struct archive *ar;
	int spool;         /* tar: the entry being written, or -1 */
	char *entry_path;  /* tar: the entry's path until arc_wr_end */
	int64_t entry_mtime;
};

static int arc_err(struct arc_wr *a, struct error *err, const char *what)
{
	return error_set(err, ERR_IO, "%s: %s: %s", a->dest, what, archive_error_string(a->ar));
}

static int spool_open(struct arc_wr *a, struct error *err)
{
	char *copy = strdup(a->dest);
	if (copy == NULL)
		abort();
	a->spool = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(copy);
	if (a->spool >= 0)
		return 0;
	char tmpl[] = "/tmp/tern-export-XXXXXX";
	a->spool = mkostemp(tmpl, O_CLOEXEC);
	if (a->spool < 0)
		return error_errno(err, errno, "creating a temporary file for %s", a->dest);
	unlink(tmpl);
	return 0;
}

static int arc_setup(struct arc_wr *a, struct error *err)
{
	a->ar = archive_write_new();
	if (a->ar == NULL)
		abort();
	int r;
	if (a->kind == MAILFMT_ARCHIVE_ZIP) {
		r = archive_write_set_format_zip(a->ar);
		if (r == ARCHIVE_OK)
			r = archive_write_zip_set_compression_deflate(a->ar);
	} else {
		r = archive_write_set_format_pax_restricted(a->ar);
		if (r == ARCHIVE_OK)
			r = archive_write_add_filter_gzip(a->ar);
	}
	if (r == ARCHIVE_OK)
		r = archive_write_open_fd(a->ar, a->fd);
	return r == ARCHIVE_OK ? 0 : arc_err(a, err, "opening");
}

int arc_wr_open(enum mailfmt_archive kind, const char *dest, struct arc_wr **a_r,
                struct error *err)
{
	struct arc_wr *a = calloc(1, sizeof(*a));
	if (a == NULL || (a->dest = strdup(dest)) == NULL)
		abort();
	a->kind = kind;
	a->spool = -1;
	a->fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (a->fd < 0) {
		error_errno(err, errno, "creating %s", dest);
		arc_wr_free(&a);
		return -1;
	}
	if (arc_setup(a, err) < 0 || (kind == MAILFMT_ARCHIVE_TGZ && spool_open(a, err) < 0)) {
		arc_wr_free(&a);
		unlink(dest);
		return -1;
	}
	*a_r = a;
	return 0;
}

static struct archive_entry *entry_new(const char *path, mode_t type, mode_t perm,
                                       int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	if (e == NULL)
		abort();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, mtime >= 0 ? (time_t)mtime : time(NULL), 0);
	return e;
}

int arc_wr_dir(struct arc_wr *a, const char *path, struct error *err)
{
	struct archive_entry *e = entry_new(path, AE_IFDIR, 0700, -1);
	archive_entry_set_size(e, 0);
	int r = archive_write_header(a->ar, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : arc_err(a, err, "adding a directory");
}

int arc_wr_begin(struct arc_wr *a, const char *path, int64_t mtime, struct error *err)
{
	if (a->kind == MAILFMT_ARCHIVE_TGZ) {
		free(a->entry_path);
		a->entry_path = strdup(path);
		if (a->entry_path == NULL)
			abort();
		a->entry_mtime = mtime;
		return 0;
	}
	struct archive_entry *e = entry_new(path, AE_IFREG, 0600, mtime);
	archive_entry_unset_size(e);  /* zip: streamed, sizes after the data */
	int r = archive_write_header(a->ar, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : arc_err(a, err, "adding an entry");
}

static int write_fd_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int arc_wr_write(struct arc_wr *a, const void *p, size_t n, struct error *err)
{
	if (a->kind == MAILFMT_ARCHIVE_TGZ) {
		if (write_fd_all(a->spool, p, n) < 0)
			return error_errno(err, errno, "writing the temporary file for %s", a->dest);
		return 0;
	}
	if (n > 0 && archive_write_data(a->ar, p, n) != (la_ssize_t)n)
		return arc_err(a, err, "writing");
	return 0;
}

/* tar: the spooled entry goes into the archive, with its size. */
static int spool_flush(struct arc_wr *a, struct error *err)
{
	struct stat st;
	if (fstat(a->spool, &st) != 0 || lseek(a->spool, 0, SEEK_SET) != 0)
		return error_errno(err, errno, "temporary file for %s", a->dest);
	struct archive_entry *e = entry_new(a->entry_path, AE_IFREG, 0600, a->entry_mtime);
	archive_entry_set_size(e, st.st_size);
	int r = archive_write_header(a->ar, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return arc_err(a, err, "adding an entry");
	char buf[FMT_CHUNK];
	ssize_t n;
	while ((n = read(a->spool, buf, sizeof(buf))) > 0)
		if (archive_write_data(a->ar, buf, (size_t)n) != n)
			return arc_err(a, err, "writing");
	if (n < 0 || ftruncate(a->spool, 0) != 0 || lseek(a->spool, 0, SEEK_SET) != 0)
		return error_errno(err, errno, "temporary file for %s", a->dest);
	return 0;
}

int arc_wr_end(struct arc_wr *a, struct error *err)
{
	if (a->kind == MAILFMT_ARCHIVE_TGZ && spool_flush(a, err) < 0)
		return -1;
	if (archive_write_finish_entry(a->ar) != ARCHIVE_OK)
		return arc_err(a, err, "finishing an entry");
	return 0;
}

int arc_wr_close(struct arc_wr **ap, struct error *err)
{
	struct arc_wr *a = *ap;
	int ret = 0;
	if (archive_write_close(a->ar) != ARCHIVE_OK)
		ret = arc_err(a, err, "closing");
	if (ret == 0 && fsync(a->fd) != 0)
		ret = error_errno(err, errno, "syncing %s", a->dest);
	if (ret == 0)
		ret = file_sync_parent_dir(a->dest, err);
	arc_wr_free(ap);
	return ret;
}

void arc_wr_free(struct arc_wr **ap)
{
	struct arc_wr *a = *ap;
	if (a == NULL)
		return;
	if (a->ar != NULL)
		archive_write_free(a->ar);  /* closes the archive if still open */
	if (a->fd >= 0)
		close(a->fd);
	if (a->spool >= 0)
		close(a->spool);
	free(a->entry_path);
	free(a->dest);
	free(a);
	*ap = NULL;
}
