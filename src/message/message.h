/*
 * message.h: RFC 5322 and MIME messages, parsed in place.
 *
 * A message is held in memory by the caller (a file mmap'd by the store, a
 * buffer from SMTP DATA) and parsed into a tree of parts without copying it:
 * every part records byte offsets of its header and body within the message,
 * so that IMAP can serve BODY[...] sections straight from the file. What the
 * parser interprets (content types, encodings, decoded header values) is
 * allocated from one arena owned by the caller; freeing the arena frees the
 * whole tree. The message bytes must outlive the tree.
 *
 * Standards: RFC 5322 (syntax, §3.3 dates, §3.4 addresses, §3.6.4
 * identifiers, §4 obsolete forms), RFC 2045/2046 (MIME headers, multipart
 * §5.1, message/rfc822 §5.2), RFC 2047 (encoded words), RFC 2183
 * (Content-Disposition), RFC 2231 (parameter continuations and charsets),
 * RFC 6532 (UTF-8 headers), RFC 5890/5891 via libidn2 (IDNA domains),
 * RFC 9051 §7.5.2 (ENVELOPE and BODYSTRUCTURE data, section specs).
 *
 * Parsing never fails: input that is not a valid message still gives a tree
 * (one part whose body is everything after the header), and what the parser
 * had to guess or give up is recorded in flags. Every loop is bounded by the
 * input length and by the named limits below; nothing reads outside
 * [data, data + size), nothing relies on a NUL, and NUL and 8-bit bytes are
 * data like any other.
 *
 * Line endings: CRLF, bare LF and a mixture of both are accepted everywhere.
 * Sizes and line counts are of the bytes as given; a store that wants IMAP
 * sizes in CRLF form keeps its messages in CRLF form.
 */
#ifndef TERN_MESSAGE_MESSAGE_H
#define TERN_MESSAGE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"

/* ---- limits ---- */

/* Deepest nesting of multiparts and embedded messages; a part at this depth
 * is not split further. Real mail rarely nests past 10; 100 leaves room for
 * forwarded chains and keeps the recursion (one small frame per level)
 * bounded. Dovecot uses the same order of magnitude. */
#define MESSAGE_MAX_DEPTH 100
/* Most parts in one message, the root included. Beyond it the remaining
 * content stays an opaque body. 10000 parts is far past real mail and bounds
 * the tree at a few MiB. */
#define MESSAGE_MAX_PARTS 10000
/* Most bytes of one header block (the fields and their folding; the empty
 * line after them is not counted). A larger header ends at the last whole
 * line within the limit, the rest counts as opaque body. 1 MiB is far
 * beyond real mail (Postfix's header_size_limit is 100 KiB). */
#define MESSAGE_MAX_HEADER_BYTES (1024 * 1024)
/* Longest multipart boundary accepted. RFC 2046 §5.1.1 allows 70
 * characters; we accept up to 200 because real mailers exceed it. A longer
 * boundary makes the multipart opaque. */
#define MESSAGE_MAX_BOUNDARY 200
/* Most parameters kept per Content-Type/Content-Disposition value, and the
 * highest RFC 2231 continuation number accepted: both bound the work a
 * hostile header can ask for. */
#define MESSAGE_MAX_PARAMS 64
#define MESSAGE_MAX_PARAM_SECTION 999
/* Most addresses (and group markers) kept from one address header. */
#define MESSAGE_MAX_ADDRESSES 1000

/* Limits for one parse; message_limits_default() gives the values above. */
struct message_limits {
	unsigned max_depth;
	unsigned max_parts;
	size_t max_header_bytes;
};

/* ---- headers ---- */

/* One header field, pointing into the message. */
struct message_header {
	const char *name;      /* field name as written, trailing WSP removed */
	size_t name_len;
	const char *value;     /* raw value after the colon: folding kept, the
	                          final line ending removed */
	size_t value_len;
	size_t offset;         /* of the field's first byte in the message */
	size_t size;           /* whole field, final line ending included */
	bool broken;           /* a line that is not a field: no colon, or a
	                          name with spaces or controls (RFC 5322 §3.6.8
	                          ftext). Kept; name is the whole line, value empty */
};

/* The header block of a message or a MIME part. */
struct message_headers {
	struct message_header *fields;
	size_t count;
};

/* ---- structured values ---- */

/* A parameter of Content-Type or Content-Disposition. */
struct message_param {
	const char *name;      /* lowercased */
	const char *value;     /* UTF-8: RFC 2231 and RFC 2047 decoded, unquoted */
	const char *language;  /* RFC 2231 language tag, or NULL */
};

/* Content-Type (RFC 2045 §5.1) or Content-Disposition (RFC 2183). */
struct message_content_type {
	const char *type;      /* lowercased; NULL if the value had no type */
	const char *subtype;   /* lowercased; NULL if absent */
	struct message_param *params;
	size_t n_params;
};

enum message_address_kind {
	MESSAGE_ADDRESS_MAILBOX = 0,
	MESSAGE_ADDRESS_GROUP_START,  /* name is the group's display name */
	MESSAGE_ADDRESS_GROUP_END,
};

/* One item of an address list: a mailbox, or a group marker. A group
 * "G: a@b, c@d;" is GROUP_START(G), MAILBOX a@b, MAILBOX c@d, GROUP_END, the
 * shape of RFC 9051 §7.5.2 ENVELOPE address lists. */
struct message_address {
	enum message_address_kind kind;
	const char *name;      /* display name in UTF-8 (RFC 2047 decoded,
	                          comments kept in parentheses as a liberal reader
	                          shows them), or NULL */
	const char *name_raw;  /* display name as in the header, quotes removed
	                          and encoded words kept (for IMAP), or NULL */
	const char *route;     /* obsolete source route "@a,@b" (RFC 5322 §4.4), or NULL */
	const char *local;     /* local part, unquoted; NULL when the item had
	                          no address (a bare phrase) */
	const char *domain;    /* domain, or NULL when there was no "@" */
	const char *address;   /* "local@domain" (route first if any) as written
	                          but with comments and folding removed; NULL when
	                          there was no address */
};

struct message_address_list {
	struct message_address *items;
	size_t count;
	bool truncated;        /* more than MESSAGE_MAX_ADDRESSES */
};

/* Options of message_address_parse. */
enum message_address_flags {
	MESSAGE_ADDRESS_PLAIN = 0,
	MESSAGE_ADDRESS_IDNA_UNICODE = 1,  /* convert A-label domains to U-labels */
	MESSAGE_ADDRESS_IDNA_ASCII = 2,    /* convert U-label domains to A-labels */
};

/* A date (RFC 5322 §3.3) broken down as written, plus the moment it names. */
struct message_date {
	int year, month, day, hour, minute, second;
	int zone_minutes;      /* offset east of UTC: +0200 is 120, -0330 is -210 */
	bool zone_unknown;     /* -0000 or an obsolete zone RFC 5322 §4.3 says to
	                          read as -0000 (military letters, unknown names) */
	time_t time;           /* seconds since the epoch, UTC */
};

/* ---- parts ---- */

enum message_encoding {
	MESSAGE_ENC_7BIT = 0,
	MESSAGE_ENC_8BIT,
	MESSAGE_ENC_BINARY,
	MESSAGE_ENC_QP,
	MESSAGE_ENC_BASE64,
	MESSAGE_ENC_UNKNOWN,   /* an x-token or garbage: body kept as is */
};

enum message_part_flags {
	MESSAGE_PART_MULTIPART = 1 << 0,    /* type multipart/ with a usable boundary */
	MESSAGE_PART_MESSAGE = 1 << 1,      /* message/rfc822 or message/global whose
	                                       body was parsed as a message (child) */
	MESSAGE_PART_NO_END_BOUNDARY = 1 << 2,  /* multipart without a close
	                                       delimiter (accepted, RFC 2046 §5.1.1) */
	MESSAGE_PART_LIMIT = 1 << 3,        /* a limit stopped the parse here: the
	                                       rest of this part is opaque body */
	MESSAGE_PART_HEADER_TRUNCATED = 1 << 4,  /* header longer than max_header_bytes */
	MESSAGE_PART_NO_BODY = 1 << 5,      /* the header was not ended by an empty line */
	MESSAGE_PART_BROKEN_HEADER = 1 << 6,    /* lines that are not fields */
	MESSAGE_PART_DEFAULT_TYPE = 1 << 7, /* no usable Content-Type: the default applies */
};

/* A part of the tree: the message itself (the root), a MIME part in a
 * multipart, or the message embedded in a message/rfc822 part (then the only
 * child of that part). */
struct message_part {
	struct message_part *parent;
	struct message_part *children;  /* first child */
	struct message_part *next;      /* next sibling */
	size_t n_children;
	unsigned depth;                 /* 0 for the root */
	unsigned flags;                 /* enum message_part_flags */

	size_t header_offset;           /* header block, empty line included */
	size_t header_size;
	size_t body_offset;
	size_t body_size;
	size_t body_lines;              /* lines of the body: its line endings
	                                   (a last line without one is not
	                                   counted, as Dovecot counts for IMAP) */
	struct message_headers headers;

	/* MIME data (RFC 2045 §5, §6; RFC 2183; RFC 3282; RFC 2557; RFC 1864).
	 * Strings are NUL-terminated, header values unfolded; NULL when absent. */
	struct message_content_type content_type;  /* type/subtype always set:
	                                   text/plain, or message/rfc822 in a
	                                   multipart/digest, when absent */
	const char *charset;            /* the charset parameter, or NULL */
	const char *boundary;           /* the boundary parameter, or NULL */
	enum message_encoding encoding;
	const char *encoding_name;      /* lowercased token; "7bit" when absent */
	const char *id;                 /* Content-ID */
	const char *description;        /* Content-Description, raw (RFC 2047 kept) */
	const char *md5;                /* Content-MD5 */
	struct message_content_type disposition;   /* type NULL when absent */
	const char **languages;         /* Content-Language tags */
	size_t n_languages;
	const char *location;           /* Content-Location */
};

struct message {
	const char *data;
	size_t size;
	struct message_part *root;
	size_t n_parts;
	bool limit_hit;                 /* some part has MESSAGE_PART_LIMIT */
};

/* The default limits (MESSAGE_MAX_*). */
struct message_limits message_limits_default(void);

/* Parses size bytes at data into a tree allocated from a. limits may be NULL
 * for the defaults. Never fails: always returns a message with a root part.
 * data must stay valid and unchanged as long as the tree is used. */
struct message *message_parse(struct arena *a, const char *data, size_t size,
	const struct message_limits *limits);

/* Parses one header block (as message_parse does for each part) from
 * [data, data + size) and returns the bytes used, empty line included.
 * Fields point into data; offsets are relative to data. */
size_t message_headers_parse(struct arena *a, const char *data, size_t size,
	size_t max_bytes, struct message_headers *headers_r, unsigned *flags_r);

/* Whether [p, p + n) holds the empty line that ends a header block (LF LF
 * or LF CR LF), looking from offset from on: for readers that take a
 * message's start in pieces. */
bool message_header_complete(const char *p, size_t n, size_t from);

/* Appends the layout of m to out: the part tree's offsets, sizes, line
 * counts, flags and shape in a versioned binary form of a few dozen bytes
 * (layout.c describes it), from which message_parse_layout rebuilds the
 * tree. m must come from message_parse or message_parse_layout. Returns 0,
 * or -1 if out would pass its maximum or m is not such a tree (out is then
 * as it was). */
int message_layout_encode(const struct message *m, struct buf *out);

/* Rebuilds the tree message_parse(a, data, size, limits) gives from the
 * layout that message_layout_encode wrote for it: only the header blocks at
 * the recorded offsets are read, bodies are not scanned. The layout is not
 * trusted: unless it is whole, of a known version, within size and the
 * limits (limits may be NULL for the defaults), consistent as a tree, with
 * every header it points at and with the delimiter lines where it puts
 * multipart boundaries, returns NULL, and the caller should call
 * message_parse instead. Some arena memory may be used even then. The
 * layout may be freed after the call; data must stay as for message_parse. */
struct message *message_parse_layout(struct arena *a, const char *data, size_t size,
	const void *layout, size_t len, const struct message_limits *limits);

/* The next part in depth-first order (the order of IMAP part numbers), or
 * NULL after the last. */
const struct message_part *message_part_next(const struct message_part *p);

/* ---- header access ---- */

/* The first field named name (ASCII case-insensitive) after `after`, or the
 * first of all if after is NULL; NULL if there is none. */
const struct message_header *message_header_find(const struct message_headers *h,
	const char *name, const struct message_header *after);

/* Whether field f is named name (ASCII case-insensitive). */
bool message_header_is(const struct message_header *f, const char *name);

/* The value of f unfolded (RFC 5322 §2.2.3: CRLF or LF before WSP removed),
 * leading and trailing WSP removed, NUL-terminated in a. The value may hold
 * NUL bytes; *len_r (may be NULL) gives its length. */
char *message_header_unfold(struct arena *a, const char *value, size_t n, size_t *len_r);

/* Unfolded value of the first field named name, or NULL. */
const char *message_header_get(struct arena *a, const struct message_headers *h,
	const char *name);

/* Decodes unstructured text (Subject, Comments, Content-Description): RFC
 * 2047 encoded words become UTF-8 (adjacent ones joined, §6.2), raw UTF-8
 * passes through (RFC 6532), other 8-bit bytes become U+FFFD. Broken
 * encoded words and unknown charsets are kept as written. Never fails; the
 * result is NUL-terminated in a, *len_r (may be NULL) its length. */
char *message_decode_text(struct arena *a, const char *s, size_t n, size_t *len_r);

/* Unfolded and decoded Subject of h, or NULL if there is none. */
const char *message_subject(struct arena *a, const struct message_headers *h);

/* ---- structured values ---- */

/* Parses an address list (RFC 5322 §3.4, obsolete forms of §4.4, groups,
 * comments, RFC 2047 display names, UTF-8 local parts of RFC 6532).
 * Liberal: what cannot be an address becomes a name-only item; comments
 * alone are CFWS, no item (an empty group stays empty). Returns the
 * number of items (possibly 0); *list_r is filled either way. flags:
 * enum message_address_flags; a domain IDNA cannot convert is kept as is. */
size_t message_address_parse(struct arena *a, const char *s, size_t n, unsigned flags,
	struct message_address_list *list_r);

/* Converts a domain to A-labels (to_ascii) or U-labels with libidn2 (IDNA
 * 2008, non-transitional UTS #46 mapping). Returns the converted domain in a,
 * or NULL if it cannot be converted. */
const char *message_domain_idna(struct arena *a, const char *domain, bool to_ascii);

/* Parses a date (RFC 5322 §3.3, obsolete forms of §4.3: two- and
 * three-digit years, named and military zones, comments anywhere, missing
 * seconds). Returns 0 and fills *date_r, or -1 if no date could be read. */
int message_date_parse(const char *s, size_t n, struct message_date *date_r);

/* Longest message_date_format result, NUL included. */
#define MESSAGE_DATE_MAX 40
/* Writes t as an RFC 5322 §3.3 date-time in UTC, "Wed, 25 Nov 2026 20:15:14
 * +0000" (English names whatever the locale). Returns out. */
char *message_date_format(time_t t, char out[MESSAGE_DATE_MAX]);

/* Parses msg-id lists (RFC 5322 §3.6.4: Message-ID, In-Reply-To, References).
 * Liberal: ids without "@" and words outside brackets (obs-phrase) are
 * skipped or kept as RFC 5322 §4.5.4 allows. Returns the number of ids and
 * sets *ids_r to an array in a of ids without the angle brackets. */
size_t message_msgid_parse(struct arena *a, const char *s, size_t n, const char ***ids_r);

/* Parses a Content-Type or Content-Disposition value (RFC 2045 §5.1, RFC
 * 2183 §2) with RFC 2231 continuations, charsets and languages, and RFC 2047
 * words in quoted values (common though not allowed). Returns 1 and fills
 * *ct_r, or 0 if the value has no type (then *ct_r is empty). type and
 * subtype are lowercased; parameters keep their first occurrence. */
int message_content_type_parse(struct arena *a, const char *s, size_t n,
	struct message_content_type *ct_r);

/* The value of parameter name (case-insensitive) in ct, or NULL. */
const char *message_param_get(const struct message_content_type *ct, const char *name);

/* ---- body decoding ---- */

/* Maps a Content-Transfer-Encoding token (RFC 2045 §6.1, any case) to its
 * enum; unknown tokens give MESSAGE_ENC_UNKNOWN. */
enum message_encoding message_encoding_parse(const char *s, size_t n);

/* A streaming decoder of one transfer encoding: feed it spans of any size in
 * order, then finish. State is a few bytes; no allocation. */
struct message_decoder {
	enum message_encoding encoding;
	unsigned char state;    /* private: where in an escape QP is */
	unsigned char pending[4];   /* private: base64 quantum, QP escape digit */
	size_t n_pending;
	char qp_hold[80];       /* private: QP whitespace that a line end would drop */
	size_t n_qp_hold;
	bool invalid;           /* base64: characters outside the alphabet (and
	                           not whitespace) were skipped; QP: a malformed
	                           escape was kept as written */
};

/* Prepares d to decode encoding. Nothing to free. */
void message_decoder_init(struct message_decoder *d, enum message_encoding encoding);

/* Decodes n bytes into out. Returns 0, or -1 if out would pass its maximum
 * (out then holds what fitted, whole decoded units only). base64 skips
 * characters outside its alphabet (RFC 2045 §6.8); quoted-printable keeps
 * malformed escapes as written (RFC 2045 §6.7 note 1) and drops trailing
 * whitespace on lines (rule 3); 7bit/8bit/binary/unknown copy. */
int message_decoder_feed(struct message_decoder *d, const char *in, size_t n, struct buf *out);

/* Flushes what the decoder holds back. Returns 0, or -1 as above. */
int message_decoder_finish(struct message_decoder *d, struct buf *out);

/* One-shot form: init, feed, finish. */
int message_decode(enum message_encoding encoding, const char *in, size_t n, struct buf *out);

/* Converts n bytes in charset to UTF-8, appending to out. Invalid sequences
 * become U+FFFD. Returns 1 if converted, 0 if the charset is unknown (the
 * bytes are appended with invalid UTF-8 replaced, so out is always UTF-8),
 * -1 if out would pass its maximum (out then holds a prefix). A NULL or
 * empty charset means us-ascii (RFC 2045 §5.2), read as UTF-8. */
int message_charset_to_utf8(const char *charset, const char *in, size_t n, struct buf *out);

/* Decodes the body of part p (transfer encoding, then charset to UTF-8 for
 * text parts) into out; line endings stay as in the message. Liberal: a
 * base64 body holding characters outside the alphabet is taken as not
 * encoded at all (a mislabelled part) and kept as written. Returns 1 done,
 * 0 done but the charset was unknown (bytes kept, see above), -1 if out
 * would pass its maximum. */
int message_part_text(const struct message *m, const struct message_part *p, struct buf *out);

/* ---- what IMAP needs (RFC 9051 §7.5.2) ---- */

/* ENVELOPE data. Strings are unfolded raw values (NULL when the field is
 * absent), as IMAP sends them; addresses are parsed lists whose name_raw is
 * the IMAP addr-name. sender and reply_to default to from (§7.5.2). */
struct message_envelope {
	const char *date;
	const char *subject;
	struct message_address_list from, sender, reply_to, to, cc, bcc;
	const char *in_reply_to;
	const char *message_id;
};

/* Fills *env_r from the header of p, which must be the root or the embedded
 * message of a message/rfc822 part. */
void message_envelope(struct arena *a, const struct message_part *p,
	struct message_envelope *env_r);

/* Whether BODYSTRUCTURE gives p a line count: text parts and message/rfc822
 * or message/global (§7.5.2 body-type-text, body-type-msg). The rest of the
 * BODYSTRUCTURE data is in struct message_part itself. */
bool message_part_has_lines(const struct message_part *p);

/* The part named by an IMAP part path ("1.2.3", RFC 9051 §6.4.5), or the root
 * for an empty path. A number inside a message/rfc822 part counts the parts
 * of the embedded message; "1" of a non-multipart message is its body.
 * Returns NULL if the path is malformed or names no part. */
const struct message_part *message_section_part(const struct message *m,
	const char *path, size_t n);

enum message_section_kind {
	MESSAGE_SECTION_BODY = 0,          /* BODY[path]: the part's body (whole
	                                      message for the empty path) */
	MESSAGE_SECTION_HEADER,            /* path.HEADER */
	MESSAGE_SECTION_TEXT,              /* path.TEXT */
	MESSAGE_SECTION_MIME,              /* path.MIME (not for the empty path) */
	MESSAGE_SECTION_HEADER_FIELDS,     /* path.HEADER.FIELDS (names) */
	MESSAGE_SECTION_HEADER_FIELDS_NOT, /* path.HEADER.FIELDS.NOT (names) */
};

/* The bytes of a section: a range of the message, or bytes built in the
 * arena (HEADER.FIELDS[.NOT]: the chosen fields in message order, each as
 * written, then an empty line; CRLF line endings). */
struct message_section {
	const char *data;
	size_t size;
	size_t offset;      /* in the message, when built is false */
	bool built;
};

/* Finds a section of m. HEADER, TEXT and HEADER.FIELDS apply to the message
 * at path: the root, or a message/rfc822 part whose embedded message they
 * name. Returns 0 and fills *sec_r, or -1 if the path names no part or the
 * kind does not apply to it (IMAP then returns an empty string or NIL). */
int message_section(struct arena *a, const struct message *m, const char *path,
	size_t path_len, enum message_section_kind kind, const char *const *names,
	size_t n_names, struct message_section *sec_r);

/* Appends p's ENVELOPE (RFC 9051 §7.5.2) as IMAP syntax to out; p is the
 * root or an embedded message. Returns 0, or -1 if out would pass its
 * maximum (out then holds a cut list). 8-bit strings become literals. */
int message_imap_envelope(struct arena *a, const struct message_part *p, struct buf *out);

/* Options of message_imap_envelope_as. */
enum message_imap_flags {
	MESSAGE_IMAP_UTF8 = 1,  /* the client enabled UTF-8 (RFC 6855 §3, RFC 9051
	                           §4.3): valid UTF-8 strings may be quoted */
};

/* message_imap_envelope with options (enum message_imap_flags): the one
 * writer of ENVELOPE, for FETCH ENVELOPE as well as inside BODYSTRUCTURE. */
int message_imap_envelope_as(struct arena *a, const struct message_part *p, unsigned flags,
	struct buf *out);

/* Appends p's BODYSTRUCTURE (extended true) or BODY (false) as IMAP syntax
 * (RFC 9051 §7.5.2): sizes and lines as in struct message_part, text parts
 * without parameters with charset us-ascii, a multipart without parts with
 * one empty text/plain part. Returns 0, or -1 if out would pass its maximum. */
int message_imap_bodystructure(struct arena *a, const struct message_part *p, bool extended,
	struct buf *out);


/* ---- what the store keeps (summary.c) ---- */

/* A message's searchable fields, index text and part layout; every string
 * and the layout in the arena of message_summarize, NULL when absent. */
struct message_summary {
	const char *subject;     /* decoded to UTF-8 */
	const char *from;        /* first From address, "Name <addr>" */
	const char *message_id;  /* "<id@host>" */
	int64_t date;            /* Date: as seconds since the epoch; 0 if none */
	const char *addresses;   /* names and addresses of From/Sender/Reply-To/To/Cc/Bcc */
	const char *body;        /* decoded text of the text parts (complete only) */
	const void *structure;   /* binary: message_layout_encode's layout, for
	                            message_parse_layout (complete only) */
	size_t structure_len;    /* its bytes */
};

/* Summarizes m. complete says m holds the whole message; when false (only
 * its header was parsed, as for messages too large to hold in memory), body
 * and structure stay NULL and IMAP computes them from the file when asked.
 * At most text_max bytes of addresses and of body text are kept. */
void message_summarize(struct arena *a, const struct message *m, bool complete,
                       size_t text_max, struct message_summary *s);

#endif
