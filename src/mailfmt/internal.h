/*
 * internal.h: pieces shared by the files of src/mailfmt/; never included
 * from outside this directory.
 *
 * A byte source (struct fmt_src) hides whether bytes come from a file or an
 * archive entry. The mbox splitter (mbox_read.c) reads a source through a
 * bounded line reader; plain message files go through the LF -> CRLF filter
 * (stream.c). Mailbox names are built from path components in flags.c.
 */
#ifndef TERN_MAILFMT_INTERNAL_H
#define TERN_MAILFMT_INTERNAL_H

#include "mailfmt/mailfmt.h"

#include "core/arena.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Bytes read from a source at a time, and the longest line piece handled at
 * once by the mbox splitter (longer lines pass through in pieces). */
#define FMT_CHUNK (64 * 1024)

/* Returns bytes read (> 0), 0 at the end, -1 with err set. */
typedef ssize_t fmt_read_fn(void *ctx, void *buf, size_t n, struct error *err);

struct fmt_src {
	fmt_read_fn *read;
	void *ctx;
	uint64_t consumed;  /* bytes read from the source so far */
};

/* Reads from src, counting consumed bytes. */
ssize_t fmt_src_read(struct fmt_src *src, void *buf, size_t n, struct error *err);

/* ---- LF -> CRLF (reading) and CRLF -> LF (writing) ---- */

/* Bare LF becomes CRLF; CRLF and a lone CR are kept. prev_cr carries
 * whether the last byte seen was CR across calls. out must hold 2 * n bytes.
 * Returns the bytes written to out. */
size_t crlf_to_crlf(bool *prev_cr, const char *in, size_t n, char *out);

/* CRLF becomes LF; a lone CR is kept. A CR at the end of in is held in
 * *held_cr until the next call decides (flush it with crlf_flush_cr). out
 * must hold n + 1 bytes. Returns the bytes written to out. */
size_t crlf_to_lf(bool *held_cr, const char *in, size_t n, char *out);

/* A plain message file read with bare LF made CRLF. */
struct plain_rd {
	struct fmt_src *src;
	bool prev_cr;
	size_t off, len;
	char out[2 * FMT_CHUNK];
};

/* Starts reading a message from src (not owned). */
void plain_rd_init(struct plain_rd *p, struct fmt_src *src);

/* Like mailfmt_reader_read. */
ssize_t plain_rd_read(struct plain_rd *p, char *buf, size_t size, struct error *err);

/* ---- archives (archive_read.c) ---- */

struct arc_rd;

/* Opens a zip or tar.gz archive (content detected by libarchive). */
int arc_rd_open(const char *path, const struct mailfmt_reader_opts *opts,
                struct arc_rd **a_r, struct error *err);
/* Like mailfmt_reader_next, with strings in arena (reset by the caller). */
int arc_rd_next(struct arc_rd *a, struct arena *arena, struct mailfmt_msg *msg,
                struct error *err);
ssize_t arc_rd_read(struct arc_rd *a, char *buf, size_t size, struct error *err);
uint64_t arc_rd_offset(const struct arc_rd *a);
void arc_rd_free(struct arc_rd **a);

/* Archive output (archive_write.c): entries of unknown size. A zip entry
 * streams (sizes written after the data); a tar entry needs its size first,
 * so its data is spooled to an unlinked temporary file beside the archive
 * and copied in at arc_wr_end. */
struct arc_wr;

/* Creates the archive dest (which must not exist). */
int arc_wr_open(enum mailfmt_archive kind, const char *dest, struct arc_wr **a_r,
                struct error *err);
int arc_wr_begin(struct arc_wr *a, const char *path, int64_t mtime, struct error *err);
int arc_wr_write(struct arc_wr *a, const void *p, size_t n, struct error *err);
int arc_wr_end(struct arc_wr *a, struct error *err);
/* Adds a directory entry (path ends without '/'). */
int arc_wr_dir(struct arc_wr *a, const char *path, struct error *err);
/* Finishes the archive, syncs it and frees a (also on failure). */
int arc_wr_close(struct arc_wr **a, struct error *err);
/* Frees a without finishing (the archive is left incomplete). */
void arc_wr_free(struct arc_wr **a);

/* Parses a dovecot-keywords file's content ("N name" lines) into map (26
 * entries, names in arena). Lines that do not fit are ignored. */
void dovecot_keywords_parse(struct arena *a, const char *s, size_t n, const char **map);

/* ---- line reader ---- */

struct linerd {
	struct fmt_src *src;
	char buf[FMT_CHUNK];
	size_t start, end;
	bool eof;
};

/* Returns the next piece of input in *p, *n: a whole line with its LF, or,
 * for a line longer than FMT_CHUNK, a piece of it without LF (*complete
 * false), or the last bytes of the input without LF. Returns 1, 0 at the
 * end of input, -1 with err set. The piece is valid until the next call. */
int linerd_next(struct linerd *lr, const char **p, size_t *n, bool *complete,
                struct error *err);

/* ---- mbox splitter ---- */

struct mbox_rd;

/* A splitter over src (not owned). Keywords and strings of a message are
 * allocated in arena, which the caller resets between messages. */
struct mbox_rd *mbox_rd_new(struct fmt_src *src, const struct mailfmt_reader_opts *opts);
void mbox_rd_free(struct mbox_rd **m);

/* Moves to the next message (skipping the rest of the current one). Fills
 * flags, keywords and received of msg (not mailbox). Returns 1, 0 at the end
 * of the mbox, -1 with err set. */
int mbox_rd_next(struct mbox_rd *m, struct arena *arena, struct mailfmt_msg *msg,
                 struct error *err);

/* Reads message bytes: like mailfmt_reader_read. */
ssize_t mbox_rd_read(struct mbox_rd *m, char *buf, size_t size, struct error *err);

/* ---- flags and keywords ---- */

/* A keyword list under construction, deduplicated and bounded. */
struct kwlist {
	const char *kw[MAILFMT_KEYWORDS_MAX];
	size_t n;
	size_t dropped;  /* invalid or past the limit */
};

/* Adds a copy of s (n bytes) from arena if valid and new. */
void kwlist_add(struct kwlist *l, struct arena *arena, const char *s, size_t n);

/* Parses the value of X-Keywords (comma or space separated) into l. */
void kwlist_parse(struct kwlist *l, struct arena *arena, const char *v, size_t n);

/* Flags from the value of Status: (R) and X-Status: (A F T D). */
unsigned flags_from_status(const char *v, size_t n);
unsigned flags_from_xstatus(const char *v, size_t n);

/* ---- the flag headers of an mbox message (flags.c) ----
 *
 * The reader takes flags from the header as it reads it; the writer checks
 * the header it is given against the flags it writes. Both look at the same
 * part of the header, measured on the message as tern stores it (CRLF line
 * endings, From-unquoted): the lines from the start up to the empty line
 * that ends the header, as long as each starts within the first
 * MAILFMT_MBOX_HEADER_SCAN_MAX bytes and is at most MBOX_HDR_LINE_MAX bytes
 * long with its CRLF. The first line outside ends the scan: it and the rest
 * pass through unread. A last line without a line ending counts as if it
 * had one (the writer gives it one). */

/* Longest header line searched, with its CRLF. One byte less than a line
 * buffer: a line this long is whole in the line reader whether the mbox
 * has LF or CRLF endings and whether the line is quoted. */
#define MBOX_HDR_LINE_MAX (FMT_CHUNK - 1)
/* Longest flag header value kept (Status, X-Status, X-Keywords, folded
 * lines included); bytes past it are ignored. */
#define MBOX_FLAGHDR_MAX (16 * 1024)  /* room for MAILFMT_KEYWORDS_MAX keywords */

enum flaghdr { FH_STATUS, FH_XSTATUS, FH_XKEYWORDS, FH_NONE };
#define FH_COUNT 3

/* Whether a header line at byte offset off of the header, len bytes long
 * with its CRLF, is searched (see above). */
bool mbox_hdr_searched(size_t off, size_t len);

/* Which flag header a line starts ("Status:", any case), and where its
 * value starts; FH_NONE for another line. */
enum flaghdr flaghdr_of(const char *p, size_t n, size_t *vstart);

/* What the flag headers of one header say, read line by line. */
struct flagscan {
	unsigned status;        /* flags from Status (\Seen) */
	unsigned xstatus;       /* flags from X-Status */
	struct kwlist *kw;      /* from X-Keywords, in the arena */
	bool present[FH_COUNT]; /* a line of that name was seen */
	enum flaghdr open;      /* the field being read, FH_NONE if another */
	struct buf val;         /* its value so far (MBOX_FLAGHDR_MAX) */
	struct arena *arena;
};

/* Starts a scan; keywords are allocated in arena. Free with flagscan_free. */
void flagscan_init(struct flagscan *s, struct arena *arena);
void flagscan_free(struct flagscan *s);

/* Takes one searched header line, without its line ending (not empty: the
 * empty line ends the header). Returns the flag header the line starts or
 * continues (RFC 5322 §2.2.3 folding), FH_NONE if it belongs to another
 * field. */
enum flaghdr flagscan_line(struct flagscan *s, const char *p, size_t n);

/* Ends the scan: the last field's value is read. */
void flagscan_end(struct flagscan *s);

/* Parses the date of an mbox "From " line (the whole line, n bytes).
 * Returns Unix seconds or -1. */
int64_t mbox_from_date(const char *line, size_t n);

/* ---- mailbox names ---- */

/* Name of the maildir at the relative path comps[0..n) (see mailfmt.h), in
 * arena; NULL if it passes MAILFMT_MAILBOX_NAME_MAX. */
char *mbxname_maildir(struct arena *a, const char *const *comps, size_t n);

/* Name of the mbox file at comps[0..n) (".mbox" dropped); NULL if too long. */
char *mbxname_mbox(struct arena *a, const char *const *comps, size_t n);

/* Splits a relative path into components (in arena) into comps (room for
 * MAILFMT_PATH_DEPTH_MAX). Empty and "." components are skipped. Returns the
 * count, or -1 if the path is absolute, has "..", or is too deep. */
int mbxname_split(struct arena *a, const char *path, const char **comps);

#endif
