/*
 * mailfmt.h: reading and writing mailboxes in the common interchange formats
 * (mbox, maildir, a directory of message files), also inside zip and tar.gz
 * archives, for `tern import` and `tern export`.
 *
 * The library knows nothing of the message store. A reader yields messages
 * one at a time: the mailbox they belong to, their flags and keywords, the
 * time they were received, and their bytes as a stream read in chunks. A
 * writer takes the same things back. Memory stays bounded whatever the size
 * of a message or a mailbox: mbox files and messages are never held whole.
 *
 * Line endings. tern stores messages with CRLF line endings (RFC 5322 §2.3),
 * so readers turn each bare LF into CRLF; an existing CRLF is kept and a lone
 * CR is left as it is (no line ending is invented for it). Writers use the
 * local convention of the formats: each CRLF becomes LF, a lone CR stays.
 * Reading never changes a message beyond line endings and mbox From-quoting.
 * A round trip (write, then read back) gives the same bytes, apart from line
 * endings, with these documented exceptions: in mbox, a message that does
 * not end in a line ending gets one, and flag headers that disagree with the
 * flags written are replaced or added (see below); in both formats a lone CR
 * right before a CRLF ("\r\r\n") comes back as CRLF, since an LF file
 * cannot tell a CR followed by a line end from a CRLF line end. So an mbox
 * imported and exported again, flags unchanged, gives the same messages.
 *
 * mbox (see mbox_read.c for the details). Messages start at a line beginning
 * "From " that is the first line of the file or follows an empty line; the
 * empty line before such a line separates messages and belongs to neither
 * (mbox_split_any_from: any "From " line starts a message, as GMime reads).
 * Text before the first "From " line is skipped.
 * Content-Length is kept in the message but never used to split. Quoting:
 * MAILFMT_MBOXRD (the default, what the writer produces) removes one '>'
 * from every line matching /^>+From /; MAILFMT_MBOXO removes it only from
 * lines matching /^>From / (mboxo writers quote nothing else, so ">>From "
 * is original text there). The "From " line's date (asctime form, taken as
 * UTC) is the received time. Status: R sets \Seen (O is ignored); X-Status:
 * A \Answered, F \Flagged, T \Draft, D \Deleted; X-Keywords: keywords
 * separated by commas or spaces (several lines of a name add up). These
 * headers are read from the header lines that start within the first
 * MAILFMT_MBOX_HEADER_SCAN_MAX bytes of the message, up to the first line
 * of 64 KiB or more (a last line without line ending counts); the rest of
 * the header streams through unread. They stay in the message as they are.
 *
 * maildir. Files in new/ and cur/ (tmp/ is ignored), in the order of the
 * leading timestamp of their names (then the rest of the name, comparing
 * digit runs as numbers), so that imports are stable (inside an archive
 * they come in archive order, which is this order for tern's exports). Flags come from the
 * ":2," info: D \Draft, F \Flagged, R \Answered, S \Seen, T \Deleted,
 * P keyword $Forwarded; letters a-z are Dovecot keywords, numbered by the
 * `dovecot-keywords` file beside cur/ ("0 name" lines, a = 0, b = 1, ...).
 * The received time is the file's modification time.
 *
 * Mailbox names. A single mbox file or maildir is "Inbox". In a directory
 * (or an archive) of mailboxes, each maildir (a directory with cur/ or new/)
 * and each mbox file (content starting with "From ") is a mailbox named by
 * its path below the top, '/' separating levels, ".mbox" dropped from file
 * names. A Maildir++ folder (".A.B" beside the cur/ of a maildir) is named
 * "A/B" below the name of that maildir, or just "A/B" when that maildir is
 * the top (the Inbox). A top directory called "Maildir" is the Inbox; names
 * equal to "inbox" in any case become "Inbox".
 *
 * Writers (see writer.c) produce DESTDIR/NAME.mbox files, or maildirs
 * DESTDIR/NAME/{cur,new,tmp} with hierarchy as nested directories ("a/b" is
 * DESTDIR/a/b.mbox or DESTDIR/a/b/cur/...), so that the readers read their
 * output back under the same names. The mbox writer holds the header of a
 * message (up to the same MAILFMT_MBOX_HEADER_SCAN_MAX) and makes its flag
 * headers agree with the flags and keywords: lines that already agree stay
 * byte for byte, one that disagrees is replaced where it stands (later
 * lines of its name dropped), a missing one is added when it carries a flag
 * (before the empty line ending the header, or at its top when there is
 * none in that part); see writer.c. Maildir file names are
 * "TIME.PID_N.HOST:2,FLAGS" in cur/, TIME being the received time, which is
 * also set as the file's modification time.
 */
#ifndef TERN_MAILFMT_MAILFMT_H
#define TERN_MAILFMT_MAILFMT_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest mailbox name, in bytes: IMAP servers commonly allow about 1000. */
#define MAILFMT_MAILBOX_NAME_MAX 1024
/* Most levels in a mailbox name or a path inside an archive or a directory
 * walk: deeper trees are refused rather than walked without end. */
#define MAILFMT_PATH_DEPTH_MAX 32
/* Most keywords kept per message; more are dropped with a warning. Dovecot
 * maildirs can name only 26 per mailbox. */
#define MAILFMT_KEYWORDS_MAX 64
/* Longest keyword kept (IMAP servers allow a few hundred bytes at most). */
#define MAILFMT_KEYWORD_LEN_MAX 128
/* Most header bytes of an mbox message searched for the flag headers, on
 * reading and writing: the header is held in memory while it is searched
 * (by the writer, up to twice this, as given with lone CRs). */
#define MAILFMT_MBOX_HEADER_SCAN_MAX (256 * 1024)
/* Most mailboxes in one source or one export. */
#define MAILFMT_MAILBOXES_MAX 100000
/* Most messages in one maildir or one directory of files: their names are
 * held in memory (about 100 bytes each) to sort them. */
#define MAILFMT_MAILDIR_FILES_MAX 10000000

/* System flags (RFC 9051 §2.3.2). */
enum mailfmt_flag {
	MAILFMT_SEEN = 1 << 0,
	MAILFMT_ANSWERED = 1 << 1,
	MAILFMT_FLAGGED = 1 << 2,
	MAILFMT_DELETED = 1 << 3,
	MAILFMT_DRAFT = 1 << 4,
};

enum mailfmt_kind {
	MAILFMT_AUTO = 0,  /* reader only: detect from the path and its content */
	MAILFMT_MBOX,      /* one mbox file, or a directory of them (writer) */
	MAILFMT_MAILDIR,   /* one maildir, or a directory of them */
	MAILFMT_FILES,     /* reader only: a directory whose files are one message each */
	MAILFMT_ZIP,       /* reader: zip archive, content detected */
	MAILFMT_TGZ,       /* reader: tar.gz archive, content detected */
};

/* Archive output of a writer: none (a directory), zip or tar.gz. */
enum mailfmt_archive {
	MAILFMT_ARCHIVE_NONE = 0,
	MAILFMT_ARCHIVE_ZIP,
	MAILFMT_ARCHIVE_TGZ,
};

/* How ">From " lines of an mbox are unquoted on reading (see above). */
enum mailfmt_mbox_variant {
	MAILFMT_MBOXRD = 0,
	MAILFMT_MBOXO,
};

struct mailfmt_msg {
	const char *mailbox;         /* "Inbox" for single-mailbox sources */
	unsigned flags;              /* enum mailfmt_flag bits */
	size_t nkeywords;
	const char *const *keywords; /* each valid as an IMAP flag-keyword */
	int64_t received;            /* Unix seconds, or -1 if not known */
};

/* ---- reading ---- */

struct mailfmt_reader;

struct mailfmt_reader_opts {
	enum mailfmt_mbox_variant mbox_variant;
	/* mbox: every line starting "From " begins a message, also without an
	 * empty line before it (as GMime splits; for files written without
	 * separator lines). An empty line before it is still a separator. */
	bool mbox_split_any_from;
};

/* Opens path for reading as kind (MAILFMT_AUTO: a directory with cur/ or
 * new/ is a maildir, another directory is walked for maildirs and mbox
 * files, a name ending in .zip or .tgz/.tar.gz is an archive, a file
 * starting with "From " (or an empty file) is an mbox). opts may be NULL for
 * the defaults. Returns 0 with *r_r set (free with mailfmt_reader_free), or
 * -1 with err set (ERR_NOTFOUND, ERR_INVALID for an unknown format, ERR_IO,
 * ERR_LIMIT when a directory tree passes the limits above). */
int mailfmt_reader_open(enum mailfmt_kind kind, const char *path,
                        const struct mailfmt_reader_opts *opts,
                        struct mailfmt_reader **r_r, struct error *err);

/* Moves to the next message, skipping what is left of the current one.
 * Returns 1 with *msg_r filled (valid until the next call or free), 0 when
 * there are no more messages, -1 with err set. After -1 the reader can only
 * be freed. */
int mailfmt_reader_next(struct mailfmt_reader *r, struct mailfmt_msg *msg_r,
                        struct error *err);

/* Reads up to size bytes of the current message (CRLF line endings) into
 * buf. Returns the number read (> 0), 0 at the end of the message, -1 with err
 * set. size must be at least 1. */
ssize_t mailfmt_reader_read(struct mailfmt_reader *r, void *buf, size_t size,
                            struct error *err);

/* Bytes of input consumed so far (for progress reports). */
uint64_t mailfmt_reader_offset(const struct mailfmt_reader *r);

/* Frees r and closes its files; sets *r to NULL. NULL is fine. */
void mailfmt_reader_free(struct mailfmt_reader **r);

/* ---- writing ---- */

struct mailfmt_writer;

/* Opens an export of kind MAILFMT_MBOX or MAILFMT_MAILDIR into dest: with
 * archive NONE, dest is a directory that is created (it must not exist, or
 * be empty); with ZIP or TGZ, dest is the archive file, created (it must not
 * exist). Zip entries stream. A tar entry needs its size before its data, so
 * each one is first written to an unlinked temporary file beside dest: one
 * message for maildir, but the whole mailbox for mbox (prefer zip, or
 * maildir in tar.gz, for very large mailboxes). Memory stays bounded in all
 * cases. Returns 0 with *w_r set, or -1 with err set. */
int mailfmt_writer_open(enum mailfmt_kind kind, enum mailfmt_archive archive,
                        const char *dest, struct mailfmt_writer **w_r,
                        struct error *err);

/* Starts a message in mailbox (a name as described above: levels separated
 * by '/', none empty, ".", "..", or starting with '.'; for maildir none named
 * cur, new or tmp; at most MAILFMT_MAILBOX_NAME_MAX bytes). All messages of
 * one mailbox must be written together: returning to a mailbox finished
 * earlier is an error. Keywords that are not valid flag-keywords, and those
 * past the 26 a maildir can name, are dropped with a warning.
 * received < 0 means unknown (the current time is used). Returns 0 or -1. */
int mailfmt_writer_begin(struct mailfmt_writer *w, const char *mailbox,
                         unsigned flags, const char *const *keywords,
                         size_t nkeywords, int64_t received, struct error *err);

/* Appends n bytes of the message (CRLF line endings; chunks may split a
 * CRLF or a line anywhere). Returns 0 or -1. */
int mailfmt_writer_write(struct mailfmt_writer *w, const void *data, size_t n,
                         struct error *err);

/* Finishes the message: the file is synced (directory output) or the
 * archive entry closed. Returns 0 or -1. */
int mailfmt_writer_end(struct mailfmt_writer *w, struct error *err);

/* Finishes the export: writes the dovecot-keywords files, closes and syncs
 * the output. Returns 0 or -1 (the output is then incomplete). Frees w in
 * both cases and sets *w to NULL. */
int mailfmt_writer_close(struct mailfmt_writer **w, struct error *err);

/* Frees w without finishing it (after an error); sets *w to NULL. */
void mailfmt_writer_free(struct mailfmt_writer **w);

/* ---- pieces, exposed for tests and the import command ---- */

/* Parses maildir info ":2,LETTERS" at the end of name (letters a-z are
 * looked up in kwmap, an array of 26 names or NULL entries, may be NULL).
 * Returns the flags; keywords found are appended to kw_r (up to *nkw_r <
 * MAILFMT_KEYWORDS_MAX; *nkw_r is updated). */
unsigned mailfmt_maildir_info(const char *name, const char *const *kwmap,
                              const char **kw_r, size_t *nkw_r);

/* Whether s (n bytes) is a valid IMAP flag-keyword (RFC 9051 atom, no '\\')
 * of at most MAILFMT_KEYWORD_LEN_MAX bytes. */
bool mailfmt_keyword_valid(const char *s, size_t n);

#endif
