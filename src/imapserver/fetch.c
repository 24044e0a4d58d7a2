/*
 * fetch.c: FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9, §7.5.2; RFC 3501
 * §6.4.5 for IMAP4rev1's RFC822 items), BINARY (RFC 3516), MODSEQ,
 * CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6), SAVEDATE (RFC 8514)
 * and PREVIEW (RFC 8970).
 *
 * The messages are walked with store_msg_list over the requested UID
 * ranges, and each answer is written to the connection as soon as it is
 * made, so memory stays bounded whatever the mailbox's size. A message as
 * IMAP sees it is the added headers the store keeps (Received, ...) followed
 * by the file's bytes. Both are mapped into one contiguous region: the
 * prefix is copied to the end of anonymous pages and the file is mapped
 * right after them, so the parser and the section code see one message and
 * the file's bytes are never copied. The stored layout (message_layout_encode
 * over the file as delivered) rebuilds the part tree from the header blocks
 * alone; its offsets are then moved past the prefix, and the root header
 * gets the prefix's fields in front of its own.
 *
 * ENVELOPE comes from the text the store computed at delivery over the
 * same header block (prefix, then the file's header), read with the
 * listing, so FETCH of ENVELOPE and the listing's items (FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, MODSEQ, SAVEDATE) never opens the file. That
 * text is in the IMAP_UTF8 form; when it holds 8-bit bytes, a session
 * without UTF8=ACCEPT (RFC 6855 §3) gets the envelope from the file, as
 * it does for messages stored before the text was kept.
 *
 * @UNSAFE: msg_map lays out that region by hand (mmap, MAP_FIXED, memcpy).
 */
#include "imapserver/internal.h"

#include "core/arena.h"
#include "core/conn.h"
#include "message/message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes of message data handed to conn_write at once. */
#define FETCH_CHUNK (64 * 1024)
/* A literal up to this size goes through the response buffer. */
#define FETCH_INLINE_MAX 4096
/* Most the response buffer may hold: the answer is sent once it passes
 * FETCH_CHUNK between items, so only one large item ever fills it. */
#define FETCH_OUT_MAX ((size_t)256 << 20)
/* RFC 8970 §3.1: the preview is at most 256 characters; tern gives 200. */
#define PREVIEW_CHARS 200
/* Raw bytes of the text part read for a preview, and decoded text kept. */
#define PREVIEW_SCAN_MAX (16 * 1024)
#define PREVIEW_TEXT_MAX (64 * 1024)

/* One message mapped as prefix + file. */
struct fetch_msg {
	char *map;                   /* munmap(map, map_len), or free(map) when read */
	size_t map_len;
	bool read;                   /* map is a heap copy (msg_read) */
	const char *data;            /* prefix_len + file_size bytes */
	size_t size;
	size_t prefix_len;
	struct message *m;           /* the part tree, or a root with its header only */
};

struct fetch {
	struct imapsrv_session *s;
	struct imapsrv_selected *sel;
	const struct imap_fetch *fe;
	bool uid_cmd;
	const struct store_uidrange *ranges;
	size_t n_ranges;
	bool need_file;              /* some item reads the message */
	bool want_envelope;          /* ENVELOPE is asked for: read with the listing */
	bool need_parts;             /* some item needs the part tree beyond the root header */
	bool set_seen;               /* RFC 9051 §6.4.5: a non-PEEK body item, read-write */
	bool add_modseq;             /* RFC 7162 §3.1.4.1, §3.2: MODSEQ in every answer */
	struct arena *a;             /* per message */
	struct arena *item;          /* per item: what ENVELOPE and BODYSTRUCTURE decode */
	struct buf out;              /* the answer being written */
	size_t answered;
	bool expunged;               /* a message was gone when read (RFC 5530 EXPUNGEISSUED) */
	bool broken;                 /* the connection failed */
	bool failed;                 /* the walk stopped on an error (e set) */
	const char *fail_code;       /* a message was skipped: code and text for the NO */
	char fail_text[200];
	struct error e;
};

/* ---- the message mapped with its prefix ---- */

static void msg_unmap(struct fetch_msg *fm)
{
	if (fm->map != NULL && fm->read)
		free(fm->map);
	else if (fm->map != NULL)
		munmap(fm->map, fm->map_len);
	memset(fm, 0, sizeof(*fm));
}

/* Messages up to this size are read into the heap rather than mapped:
 * mapping and unmapping a small file costs more than reading it, and each
 * munmap in a process with many threads interrupts the other CPUs to flush
 * their TLBs. */
#define FETCH_READ_MAX (256 * 1024)

/* Reads prefix + file into one heap block. */
static int msg_read(struct fetch_msg *fm, const struct store_msgfile *f, size_t fsize,
                    struct error *e)
{
	size_t plen = f->prefix_len;
	char *p = malloc(plen + fsize);
	if (p == NULL)
		return error_set(e, ERR_TEMP, "out of memory reading a message");
	if (plen > 0)
		memcpy(p, f->prefix, plen);
	size_t got = 0;
	while (got < fsize) {
		ssize_t r = pread(f->fd, p + plen + got, fsize - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : 0;
			free(p);
			if (err != 0)
				return error_errno(e, err, "reading a message file");
			return error_set(e, ERR_IO, "message file shorter than recorded");
		}
		got += (size_t)r;
	}
	fm->map = p;
	fm->read = true;
	fm->data = p;
	fm->size = plen + fsize;
	fm->prefix_len = plen;
	return 0;
}

/* Maps prefix + file contiguously: the prefix at the end of anonymous
 * pages, the file (MAP_FIXED) on the pages right after them. */
static int msg_map(struct fetch_msg *fm, const struct store_msgfile *f, struct error *e)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t plen = f->prefix_len;
	size_t ppages = (plen + page - 1) / page * page;
	size_t fsize = (size_t)f->file_size;
	size_t fpages = (fsize + page - 1) / page * page;
	memset(fm, 0, sizeof(*fm));
	/* a file shorter than recorded would fault when read through the map */
	struct stat st;
	if (fstat(f->fd, &st) != 0)
		return error_errno(e, errno, "reading a message file");
	if ((uint64_t)st.st_size < f->file_size)
		return error_set(e, ERR_IO, "message file has %lld bytes, %llu recorded",
		                 (long long)st.st_size, (unsigned long long)f->file_size);
	if (ppages + fpages == 0) {
		fm->data = "";
		return 0;
	}
	if (plen + fsize <= FETCH_READ_MAX)
		return msg_read(fm, f, fsize, e);
	char *base = mmap(NULL, ppages + fpages, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return error_errno(e, errno, "mapping a message");
	if (plen > 0)
		memcpy(base + ppages - plen, f->prefix, plen);
	if (fsize > 0 && mmap(base + ppages, fsize, PROT_READ, MAP_PRIVATE | MAP_FIXED, f->fd, 0) ==
	    MAP_FAILED) {
		int err = errno;
		munmap(base, ppages + fpages);
		return error_errno(e, err, "mapping a message file");
	}
	fm->map = base;
	fm->map_len = ppages + fpages;
	fm->data = base + ppages - plen;
	fm->size = plen + fsize;
	fm->prefix_len = plen;
	return 0;
}

/* The tree rebuilt over the file moves past the prefix, and the root header
 * begins with the prefix's fields. */
static void tree_after_prefix(struct arena *a, struct fetch_msg *fm, struct message *m)
{
	size_t plen = fm->prefix_len;
	for (struct message_part *p = m->root; p != NULL;
	     p = (struct message_part *)message_part_next(p)) {
		p->header_offset += plen;
		p->body_offset += plen;
		for (size_t i = 0; i < p->headers.count; i++)
			p->headers.fields[i].offset += plen;
	}
	m->data = fm->data;
	m->size = fm->size;
	if (plen == 0)
		return;
	struct message_part *root = m->root;
	struct message_headers ph;
	unsigned flags;
	(void)message_headers_parse(a, fm->data, plen, MESSAGE_MAX_HEADER_BYTES, &ph, &flags);
	struct message_header *all = arena_alloc(a, (ph.count + root->headers.count + 1) *
	                                         sizeof(*all));
	memcpy(all, ph.fields, ph.count * sizeof(*all));
	memcpy(all + ph.count, root->headers.fields, root->headers.count * sizeof(*all));
	root->headers.fields = all;
	root->headers.count += ph.count;
	root->header_offset = 0;
	root->header_size += plen;
}

/* A tree of the root alone, from its header: enough for ENVELOPE and the
 * root's HEADER, TEXT and whole-message sections without reading the body. */
static struct message *shallow_tree(struct arena *a, const struct fetch_msg *fm)
{
	struct message *m = arena_alloc(a, sizeof(*m));
	struct message_part *root = arena_alloc(a, sizeof(*root));
	unsigned flags = 0;
	root->header_size = message_headers_parse(a, fm->data, fm->size, MESSAGE_MAX_HEADER_BYTES,
	                                          &root->headers, &flags);
	root->flags = flags;
	root->body_offset = root->header_size;
	root->body_size = fm->size - root->header_size;
	m->data = fm->data;
	m->size = fm->size;
	m->root = root;
	m->n_parts = 1;
	return m;
}

/* The part tree: from the stored layout when it is usable, else parsed. */
static void msg_tree(struct fetch *fx, struct fetch_msg *fm, const struct store_msginfo *info)
{
	if (info != NULL && info->structure != NULL && info->structure_len > 0) {
		struct message *m = message_parse_layout(fx->a, fm->data + fm->prefix_len,
		                                         fm->size - fm->prefix_len, info->structure,
		                                         info->structure_len, NULL);
		if (m != NULL) {
			tree_after_prefix(fx->a, fm, m);
			fm->m = m;
			return;
		}
	}
	if (!fx->need_parts) {
		fm->m = shallow_tree(fx->a, fm);
		return;
	}
	fm->m = message_parse(fx->a, fm->data, fm->size, NULL);
}

/* Opens and maps the message. Returns 1 when loaded, 0 when it is gone
 * (expunged meanwhile), -1 on another error (e set). The stored layout
 * comes with the listing (asked for only when the parts are wanted: the
 * root's header alone comes from the mapped bytes). */
static int msg_load(struct fetch *fx, const struct store_msginfo *info, struct fetch_msg *fm)
{
	struct imapsrv_selected *sel = fx->sel;
	struct store_msgfile f;
	if (store_msg_open(sel->acct, sel->mailbox_id, info->uid, fx->a, &f, &fx->e) != 0)
		return fx->e.kind == ERR_NOTFOUND ? 0 : -1;
	int r = msg_map(fm, &f, &fx->e);
	close(f.fd);
	if (r != 0)
		return -1;
	msg_tree(fx, fm, fx->need_parts ? info : NULL);
	return 1;
}

/* ---- writing ---- */

/* Sends what the answer buffer holds. */
static int out_send(struct fetch *fx)
{
	if (fx->out.len == 0)
		return 0;
	int r = conn_write(fx->s->out.c, fx->out.data, fx->out.len, &fx->e);
	buf_reset(&fx->out);
	if (r != 0)
		fx->broken = true;
	return r;
}

/* Sends n bytes of message data after the answer so far. With fix_nul,
 * NUL bytes become 0x80: BODY data is a literal, whose CHAR8 excludes NUL
 * (RFC 9051 §9); only BINARY may send literal8. */
static int out_data(struct fetch *fx, const char *p, size_t n, bool fix_nul)
{
	if (n <= FETCH_INLINE_MAX && !(fix_nul && memchr(p, '\0', n) != NULL))
		return buf_append(&fx->out, p, n);
	if (out_send(fx) != 0)
		return -1;
	char tmp[4096];
	while (n > 0) {
		size_t k = n < FETCH_CHUNK ? n : FETCH_CHUNK;
		const char *src = p;
		if (fix_nul && memchr(p, '\0', k) != NULL) {
			k = k < sizeof(tmp) ? k : sizeof(tmp);
			for (size_t i = 0; i < k; i++)
				tmp[i] = p[i] != '\0' ? p[i] : (char)0x80;
			src = tmp;
		}
		if (conn_write(fx->s->out.c, src, k, &fx->e) != 0) {
			fx->broken = true;
			return -1;
		}
		p += k;
		n -= k;
	}
	return 0;
}

/* A literal of [p, p+n): RFC 9051 §4.3 literal = "{" number "}" CRLF *CHAR8;
 * the empty string quoted. */
static int out_literal(struct fetch *fx, const char *p, size_t n)
{
	if (n == 0)
		return buf_append_str(&fx->out, "\"\"");
	if (buf_appendf(&fx->out, "{%zu}\r\n", n) != 0)
		return -1;
	return out_data(fx, p, n, true);
}

/* ---- simple items ---- */

static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	"Aug", "Sep", "Oct", "Nov", "Dec" };

/* RFC 9051 §9: date-time = DQUOTE date-day-fixed "-" date-month "-"
 * date-year SP time SP zone DQUOTE; date-day-fixed = (SP DIGIT) / 2DIGIT. */
static int write_datetime(struct buf *out, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	return buf_appendf(out, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
	                   month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	                   tm.tm_sec);
}

/* RFC 9051 §7.5.2 FLAGS: system flags, keywords and, for IMAP4rev1,
 * \Recent (RFC 3501 §2.3.2). */
static int write_flags(struct fetch *fx, unsigned flags, const char *keywords, uint32_t uid)
{
	if (buf_append_str(&fx->out, "FLAGS ") != 0)
		return -1;
	imapsrv_write_flags(&fx->out, flags, keywords, imapsrv_is_recent(fx->s, uid));
	return 0;
}

/* ---- ENVELOPE (RFC 9051 §7.5.2), strings in the session's form ---- */

/* Whether the stored ENVELOPE text (IMAP_UTF8 form) is this session's:
 * always with UTF8=ACCEPT, else when it is ASCII, where both forms agree. */
static bool envelope_stored(const struct fetch *fx, const struct store_msginfo *info)
{
	if (!fx->want_envelope || info->envelope == NULL)
		return false;
	if (fx->s->out.imap_flags & IMAP_UTF8)
		return true;
	for (size_t i = 0; i < info->envelope_len; i++)
		if ((unsigned char)info->envelope[i] >= 0x80)
			return false;
	return true;
}

static int write_envelope(struct fetch *fx, const struct message_part *p)
{
	unsigned flags = (fx->s->out.imap_flags & IMAP_UTF8) ? MESSAGE_IMAP_UTF8 : 0;
	if (buf_append_str(&fx->out, "ENVELOPE ") != 0)
		return -1;
	return message_imap_envelope_as(fx->item, p, flags, &fx->out);
}

/* ---- BODY[section]<partial> (RFC 9051 §6.4.5, §7.5.2) ---- */

static const char *const section_text_names[] = {
	[IMAP_SECTION_NONE] = "", [IMAP_SECTION_HEADER] = "HEADER", [IMAP_SECTION_TEXT] = "TEXT",
	[IMAP_SECTION_MIME] = "MIME", [IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
	[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
};

/* "BODY[1.HEADER.FIELDS (From To)]" as the response names the section. */
static int write_section_name(struct fetch *fx, const char *item, const struct imap_fetch_att *f)
{
	struct buf *o = &fx->out;
	int r = buf_appendf(o, "%s[%s", item, f->part);
	if (f->text != IMAP_SECTION_NONE)
		r |= buf_appendf(o, "%s%s", *f->part != '\0' ? "." : "", section_text_names[f->text]);
	if (f->text == IMAP_SECTION_HEADER_FIELDS || f->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		r |= buf_append_str(o, " (");
		for (size_t i = 0; i < f->n_fields; i++) {
			if (i > 0)
				r |= buf_append_char(o, ' ');
			r |= imap_write_astring(o, f->fields[i], strlen(f->fields[i]),
			                        fx->s->out.imap_flags);
		}
		r |= buf_append_char(o, ')');
	}
	return r | buf_append_char(o, ']');
}

/* The window a partial fetch asks for: [*start, *start + *n) of size bytes
 * (RFC 9051 §6.4.5: past the end, the data is empty). */
static void partial_window(const struct imap_fetch_att *f, uint64_t size, uint64_t *start,
                           uint64_t *n)
{
	*start = 0;
	*n = size;
	if (!f->partial)
		return;
	*start = f->offset < size ? f->offset : size;
	uint64_t left = size - *start;
	*n = f->count < left ? f->count : left;
}

/* A section's bytes as a literal, cut to the partial window. The name is
 * followed by "<origin>" for a partial fetch (§7.5.2). */
static int write_section_data(struct fetch *fx, const struct imap_fetch_att *f, const char *p,
                              size_t size)
{
	uint64_t start, n;
	partial_window(f, size, &start, &n);
	if (f->partial && buf_appendf(&fx->out, "<%u>", f->offset) != 0)
		return -1;
	if (buf_append_char(&fx->out, ' ') != 0)
		return -1;
	return out_literal(fx, p + start, (size_t)n);
}

static int write_body_section(struct fetch *fx, const struct fetch_msg *fm,
                              const struct imap_fetch_att *f)
{
	if (write_section_name(fx, "BODY", f) != 0)
		return -1;
	struct message_section sec;
	if (message_section(fx->a, fm->m, f->part, strlen(f->part),
	                    (enum message_section_kind)f->text, f->fields, f->n_fields, &sec) != 0) {
		/* no such part: NIL (the part does not exist, §7.5.2 nstring) */
		if (f->partial && buf_appendf(&fx->out, "<%u>", f->offset) != 0)
			return -1;
		return buf_append_str(&fx->out, " NIL");
	}
	return write_section_data(fx, f, sec.data, sec.size);
}

/* RFC822, RFC822.HEADER, RFC822.TEXT (RFC 3501 §6.4.5): BODY[], BODY.PEEK[HEADER], BODY[TEXT]. */
static int write_rfc822(struct fetch *fx, const struct fetch_msg *fm, const char *name,
                        enum message_section_kind kind)
{
	struct message_section sec;
	if (buf_appendf(&fx->out, "%s ", name) != 0)
		return -1;
	if (message_section(fx->a, fm->m, "", 0, kind, NULL, 0, &sec) != 0)
		return buf_append_str(&fx->out, "NIL");
	return out_literal(fx, sec.data, sec.size);
}

/* ---- BINARY (RFC 3516) ---- */

/* The data BINARY decodes: a part's body with its transfer encoding, or
 * the whole message (empty section) as it is. */
struct binary_src {
	const char *p;
	size_t n;
	enum message_encoding enc;
};

/* Finds the section of a BINARY item. Returns 1 found, 0 no such part. */
static int binary_find(const struct fetch_msg *fm, const struct imap_fetch_att *f,
                       struct binary_src *b)
{
	if (*f->part == '\0') {
		b->p = fm->m->data;
		b->n = fm->m->size;
		b->enc = MESSAGE_ENC_BINARY;
		return 1;
	}
	const struct message_part *p = message_section_part(fm->m, f->part, strlen(f->part));
	if (p == NULL)
		return 0;
	b->p = fm->m->data + p->body_offset;
	b->n = p->body_size;
	b->enc = (p->flags & (MESSAGE_PART_MULTIPART | MESSAGE_PART_MESSAGE)) ? MESSAGE_ENC_BINARY :
	         p->encoding;
	return 1;
}

/* Receives decoded bytes at position pos of the decoded data. */
typedef int binary_sink(struct fetch *fx, void *ctx, uint64_t pos, const char *p, size_t n);

/* Decodes b in chunks, calling sink for each decoded piece: memory stays a
 * few chunks whatever the part's size. */
static int binary_decode(struct fetch *fx, const struct binary_src *b, binary_sink *sink,
                         void *ctx)
{
	if (b->enc != MESSAGE_ENC_BASE64 && b->enc != MESSAGE_ENC_QP) {
		for (size_t off = 0; off < b->n; off += FETCH_CHUNK) {
			size_t k = b->n - off < FETCH_CHUNK ? b->n - off : FETCH_CHUNK;
			if (sink(fx, ctx, off, b->p + off, k) != 0)
				return -1;
		}
		return 0;
	}
	struct message_decoder d;
	struct buf out;
	uint64_t pos = 0;
	int r = 0;
	message_decoder_init(&d, b->enc);
	buf_init(&out, 2 * FETCH_CHUNK + 256);   /* decoding never grows data past held bytes */
	for (size_t off = 0, k = 0; r == 0 && off < b->n; off += k) {
		k = b->n - off < FETCH_CHUNK ? b->n - off : FETCH_CHUNK;
		r = message_decoder_feed(&d, b->p + off, k, &out);
		if (r == 0 && out.len > 0)
			r = sink(fx, ctx, pos, out.data, out.len);
		pos += out.len;
		buf_reset(&out);
	}
	if (r == 0)
		r = message_decoder_finish(&d, &out);
	if (r == 0 && out.len > 0)
		r = sink(fx, ctx, pos, out.data, out.len);
	buf_free(&out);
	return r;
}

/* First pass: the decoded size, and whether [win_start, win_end) holds a NUL. */
struct binary_measure {
	uint64_t size;
	uint64_t win_start, win_end;
	bool nul;
};

static int binary_measure_sink(struct fetch *fx, void *ctx, uint64_t pos, const char *p, size_t n)
{
	(void)fx;
	struct binary_measure *bm = ctx;
	bm->size = pos + n;
	if (!bm->nul && pos + n > bm->win_start && pos < bm->win_end) {
		uint64_t a = bm->win_start > pos ? bm->win_start - pos : 0;
		uint64_t b = bm->win_end < pos + n ? bm->win_end - pos : n;
		bm->nul = memchr(p + a, '\0', (size_t)(b - a)) != NULL;
	}
	return 0;
}

/* Second pass: sends the bytes of the window. */
struct binary_window {
	uint64_t start, end;
};

static int binary_send_sink(struct fetch *fx, void *ctx, uint64_t pos, const char *p, size_t n)
{
	struct binary_window *w = ctx;
	if (pos + n <= w->start || pos >= w->end)
		return 0;
	uint64_t a = w->start > pos ? w->start - pos : 0;
	uint64_t b = w->end < pos + n ? w->end - pos : n;
	return out_data(fx, p + a, (size_t)(b - a), false);
}

static int binary_size(struct fetch *fx, const struct binary_src *b, uint64_t *size_r)
{
	struct binary_measure bm = { 0 };
	if (binary_decode(fx, b, binary_measure_sink, &bm) != 0)
		return -1;
	*size_r = bm.size;
	return 0;
}

/* BINARY[part]<partial>: RFC 3516 §4.2; literal8 when the data holds NUL
 * (§4.3), a literal otherwise. */
static int write_binary(struct fetch *fx, const struct fetch_msg *fm,
                        const struct imap_fetch_att *f)
{
	struct binary_src b;
	if (write_section_name(fx, "BINARY", f) != 0)
		return -1;
	if (f->partial && buf_appendf(&fx->out, "<%u>", f->offset) != 0)
		return -1;
	if (binary_find(fm, f, &b) == 0)
		return buf_append_str(&fx->out, " NIL");
	struct binary_measure bm = { .win_start = f->partial ? f->offset : 0,
	                             .win_end = f->partial ? (uint64_t)f->offset + f->count :
	                                        UINT64_MAX };
	if (binary_decode(fx, &b, binary_measure_sink, &bm) != 0)
		return -1;
	uint64_t start, n;
	partial_window(f, bm.size, &start, &n);
	if (n == 0)
		return buf_append_str(&fx->out, " \"\"");
	if (buf_appendf(&fx->out, " %s{%llu}\r\n", bm.nul ? "~" : "", (unsigned long long)n) != 0)
		return -1;
	struct binary_window w = { start, start + n };
	return binary_decode(fx, &b, binary_send_sink, &w);
}

static int write_binary_size(struct fetch *fx, const struct fetch_msg *fm,
                             const struct imap_fetch_att *f)
{
	struct binary_src b;
	uint64_t size = 0;
	if (binary_find(fm, f, &b) == 1 && binary_size(fx, &b, &size) != 0)
		return -1;
	if (buf_appendf(&fx->out, "BINARY.SIZE[%s] %llu", f->part, (unsigned long long)size) != 0)
		return -1;
	return 0;
}

/* RFC 3516 §4.2: a part whose transfer encoding tern cannot decode gets NO
 * [UNKNOWN-CTE]; a BINARY.SIZE of a part that does not exist has no
 * number to give. Checked before anything of the message is sent. */
static bool binary_check(struct fetch *fx, const struct fetch_msg *fm)
{
	for (size_t i = 0; i < fx->fe->n_atts; i++) {
		const struct imap_fetch_att *f = &fx->fe->atts[i];
		if (f->kind != IMAP_FA_BINARY && f->kind != IMAP_FA_BINARY_SIZE)
			continue;
		struct binary_src b;
		if (binary_find(fm, f, &b) == 0) {
			if (f->kind == IMAP_FA_BINARY)
				continue;
			fx->fail_code = "";
			snprintf(fx->fail_text, sizeof(fx->fail_text),
			         "BINARY.SIZE[%s]: the message has no such part", f->part);
			return false;
		}
		if (b.enc == MESSAGE_ENC_UNKNOWN) {
			fx->fail_code = "UNKNOWN-CTE";
			snprintf(fx->fail_text, sizeof(fx->fail_text),
			         "part %s has a content-transfer-encoding tern cannot decode", f->part);
			return false;
		}
	}
	return true;
}

/* ---- PREVIEW (RFC 8970) ---- */

static bool is_type(const struct message_part *p, const char *type, const char *subtype)
{
	return p->content_type.type != NULL && strcmp(p->content_type.type, type) == 0 &&
	       p->content_type.subtype != NULL && strcmp(p->content_type.subtype, subtype) == 0;
}

/* The first text/plain or text/html part that is not an attachment. */
static const struct message_part *preview_part(const struct message *m)
{
	for (const struct message_part *p = m->root; p != NULL; p = message_part_next(p)) {
		if (p->flags & (MESSAGE_PART_MULTIPART | MESSAGE_PART_MESSAGE))
			continue;
		if (p->disposition.type != NULL && strcmp(p->disposition.type, "attachment") == 0)
			continue;
		if (is_type(p, "text", "plain") || is_type(p, "text", "html"))
			return p;
	}
	return NULL;
}

static void utf8_put(struct buf *out, unsigned long c)
{
	if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd;
	if (c < 0x80) {
		buf_append_char(out, (char)c);
	} else if (c < 0x800) {
		buf_append_char(out, (char)(0xc0 | (c >> 6)));
		buf_append_char(out, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		buf_append_char(out, (char)(0xe0 | (c >> 12)));
		buf_append_char(out, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_append_char(out, (char)(0x80 | (c & 0x3f)));
	} else {
		buf_append_char(out, (char)(0xf0 | (c >> 18)));
		buf_append_char(out, (char)(0x80 | ((c >> 12) & 0x3f)));
		buf_append_char(out, (char)(0x80 | ((c >> 6) & 0x3f)));
		buf_append_char(out, (char)(0x80 | (c & 0x3f)));
	}
}

/* HTML 4 names of U+00A0..U+00FF (the Latin-1 entities), in order. */
static const char *const latin1_entities[] = {
	"nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
	"laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
	"para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
	"Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave",
	"Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
	"Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml",
	"Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig",
	"ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth",
	"ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave",
	"uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
};

/* The character of a named reference ("amp" for "&amp;"), or 0. */
static unsigned long html_named(const char *s, size_t n)
{
	static const struct { const char *name; unsigned long c; } names[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
		{ "euro", 0x20ac }, { "ndash", 0x2013 }, { "mdash", 0x2014 }, { "lsquo", 0x2018 },
		{ "rsquo", 0x2019 }, { "ldquo", 0x201c }, { "rdquo", 0x201d }, { "hellip", 0x2026 },
		{ "bull", 0x2022 }, { "trade", 0x2122 },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && memcmp(s, names[i].name, n) == 0)
			return names[i].c;
	for (size_t i = 0; i < sizeof(latin1_entities) / sizeof(latin1_entities[0]); i++)
		if (strlen(latin1_entities[i]) == n && memcmp(s, latin1_entities[i], n) == 0)
			return 0xa0 + i;
	return 0;
}

/* An HTML character reference at s (after "&"): appends its character and
 * returns the bytes used, or 0 if it is not one tern knows. */
static size_t html_entity(const char *s, size_t n, struct buf *out)
{
	size_t i = 0;
	if (n > 0 && s[0] != '#') {
		while (i < n && i < 10 && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		                           (s[i] >= '0' && s[i] <= '9')))
			i++;
		unsigned long c = i < n && s[i] == ';' ? html_named(s, i) : 0;
		if (c == 0)
			return 0;
		utf8_put(out, c == 0xa0 ? ' ' : c);
		return i + 1;
	}
	if (n < 3)
		return 0;
	i = 1;
	int base = 10;
	if (s[i] == 'x' || s[i] == 'X') {
		base = 16;
		i++;
	}
	unsigned long c = 0;
	size_t digits = 0;
	for (; i < n && digits < 8; i++, digits++) {
		int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' :
		        base == 16 && s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 :
		        base == 16 && s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10 : -1;
		if (d < 0)
			break;
		c = c * (unsigned long)base + (unsigned long)d;
	}
	if (digits == 0 || i >= n || s[i] != ';')
		return 0;
	utf8_put(out, c == '\0' || c == 0xa0 ? ' ' : c);
	return i + 1;
}

/* Whether s (length n) starts with "<name" ended by ">", space or "/". */
static bool tag_is(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name);
	return n > k + 1 && s[0] == '<' && strncasecmp(s + 1, name, k) == 0 &&
	       (s[k + 1] == '>' || s[k + 1] == ' ' || s[k + 1] == '/' || s[k + 1] == '\t' ||
	        s[k + 1] == '\r' || s[k + 1] == '\n');
}

/* Where the element whose content is not text (script, style, head) ends. */
static size_t skip_element(const char *s, size_t n, size_t i, const char *name)
{
	char end[16];
	snprintf(end, sizeof(end), "</%s", name);
	size_t k = strlen(end);
	for (; i + k <= n; i++)
		if (strncasecmp(s + i, end, k) == 0)
			break;
	while (i < n && s[i] != '>')
		i++;
	return i < n ? i + 1 : n;
}

/* HTML to text, crudely but safely: tags and comments go, script, style
 * and head lose their content, character references are decoded, and every
 * tag leaves a space so words stay apart. */
static void html_to_text(const char *s, size_t n, struct buf *out)
{
	static const char *const hidden[] = { "script", "style", "head", "title" };
	for (size_t i = 0; i < n;) {
		if (s[i] == '&') {
			size_t k = html_entity(s + i + 1, n - i - 1, out);
			if (k > 0) {
				i += k + 1;
				continue;
			}
		}
		if (s[i] != '<') {
			buf_append_char(out, s[i++]);
			continue;
		}
		size_t next = 0;
		for (size_t h = 0; h < sizeof(hidden) / sizeof(hidden[0]) && next == 0; h++)
			if (tag_is(s + i, n - i, hidden[h]))
				next = skip_element(s, n, i + 1, hidden[h]);
		if (next == 0 && n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
			const char *e = memmem(s + i + 4, n - i - 4, "-->", 3);
			next = e != NULL ? (size_t)(e - s) + 3 : n;
		}
		if (next == 0) {
			const char *e = memchr(s + i, '>', n - i);
			next = e != NULL ? (size_t)(e - s) + 1 : n;
		}
		buf_append_char(out, ' ');
		i = next;
	}
}

/* Whitespace and controls collapsed to single spaces, trimmed, cut after
 * PREVIEW_CHARS characters (RFC 8970 §3.1: no line breaks, plain text). */
static void preview_finish(const char *s, size_t n, struct buf *out)
{
	size_t chars = 0;
	bool space = false;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f) {
			space = out->len > 0;
			i++;
			continue;
		}
		size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (k > n - i)
			break;
		if (chars + (space ? 1 : 0) + 1 > PREVIEW_CHARS)
			break;
		if (space) {
			buf_append_char(out, ' ');
			chars++;
			space = false;
		}
		buf_append(out, s + i, k);
		chars++;
		i += k;
	}
}

static int write_preview(struct fetch *fx, const struct fetch_msg *fm)
{
	const struct message_part *p = preview_part(fm->m);
	struct buf text, plain, result;
	buf_init(&text, PREVIEW_TEXT_MAX);
	buf_init(&plain, PREVIEW_TEXT_MAX * 2);
	buf_init(&result, PREVIEW_CHARS * 4 + 4);
	if (p != NULL) {
		/* a large part is read only as far as a preview needs */
		struct message_part clipped = *p;
		if (clipped.body_size > PREVIEW_SCAN_MAX)
			clipped.body_size = PREVIEW_SCAN_MAX;
		(void)message_part_text(fm->m, &clipped, &text);
		if (is_type(p, "text", "html")) {
			html_to_text(text.data, text.len, &plain);
			preview_finish(plain.data, plain.len, &result);
		} else {
			preview_finish(text.data, text.len, &result);
		}
	}
	int r = buf_append_str(&fx->out, "PREVIEW ");
	r |= imap_write_string(&fx->out, result.data, result.len, fx->s->out.imap_flags);
	buf_free(&text);
	buf_free(&plain);
	buf_free(&result);
	return r;
}

/* ---- one message ---- */

static bool att_wanted(const struct imap_fetch *fe, enum imap_fetch_kind kind)
{
	for (size_t i = 0; i < fe->n_atts; i++)
		if (fe->atts[i].kind == kind)
			return true;
	return false;
}

/* Whether the item sets \Seen (RFC 9051 §6.4.5; RFC 3501 §6.4.5 RFC822,
 * RFC822.TEXT; RFC 3516 §4.2 BINARY). */
static bool att_sets_seen(const struct imap_fetch_att *f)
{
	switch (f->kind) {
	case IMAP_FA_BODY_SECTION:
	case IMAP_FA_BINARY:
		return !f->peek;
	case IMAP_FA_RFC822:
	case IMAP_FA_RFC822_TEXT:
		return true;
	default:
		return false;
	}
}

/* Whether the item reads the message file, and whether it needs the
 * parts beyond the root's header. ENVELOPE reads it only when the stored
 * text does not serve (fetch_one). */
static void att_needs(const struct imap_fetch_att *f, bool *file, bool *parts)
{
	switch (f->kind) {
	case IMAP_FA_RFC822:
	case IMAP_FA_RFC822_HEADER:
	case IMAP_FA_RFC822_TEXT:
		*file = true;
		break;
	case IMAP_FA_BODY_SECTION:
		*file = true;
		if (*f->part != '\0')
			*parts = true;
		break;
	case IMAP_FA_BODY:
	case IMAP_FA_BODYSTRUCTURE:
	case IMAP_FA_BINARY:
	case IMAP_FA_BINARY_SIZE:
	case IMAP_FA_PREVIEW:
		*file = true;
		*parts = true;
		break;
	default:
		break;
	}
}

struct msg_state {
	const struct store_msginfo *info;
	uint32_t seq;
	unsigned flags;
	uint64_t modseq;
	bool flags_changed;
	bool uid_done, flags_done, modseq_done;
	bool envelope_stored;        /* ENVELOPE from info->envelope */
	const struct fetch_msg *fm;
};

static int write_att(struct fetch *fx, struct msg_state *ms, const struct imap_fetch_att *f)
{
	const struct store_msginfo *in = ms->info;
	const struct fetch_msg *fm = ms->fm;
	switch (f->kind) {
	case IMAP_FA_UID:
		ms->uid_done = true;
		return buf_appendf(&fx->out, "UID %u", in->uid);
	case IMAP_FA_FLAGS:
		ms->flags_done = true;
		return write_flags(fx, ms->flags, in->keywords, in->uid);
	case IMAP_FA_MODSEQ:
		/* RFC 7162 §3.1.4: "MODSEQ" SP "(" permsg-modsequence ")" */
		ms->modseq_done = true;
		return buf_appendf(&fx->out, "MODSEQ (%llu)", (unsigned long long)ms->modseq);
	case IMAP_FA_INTERNALDATE:
		return buf_append_str(&fx->out, "INTERNALDATE ") | write_datetime(&fx->out, in->received);
	case IMAP_FA_SAVEDATE:
		/* RFC 8514 §4: "SAVEDATE" SP (date-time / nil) */
		if (in->saved == 0)
			return buf_append_str(&fx->out, "SAVEDATE NIL");
		return buf_append_str(&fx->out, "SAVEDATE ") | write_datetime(&fx->out, in->saved);
	case IMAP_FA_RFC822_SIZE:
		return buf_appendf(&fx->out, "RFC822.SIZE %llu", (unsigned long long)in->size);
	case IMAP_FA_ENVELOPE:
		if (ms->envelope_stored)
			return buf_append_str(&fx->out, "ENVELOPE ") |
			       buf_append(&fx->out, in->envelope, in->envelope_len);
		return write_envelope(fx, fm->m->root);
	case IMAP_FA_BODY:
	case IMAP_FA_BODYSTRUCTURE:
		if (buf_append_str(&fx->out, f->kind == IMAP_FA_BODY ? "BODY " : "BODYSTRUCTURE ") != 0)
			return -1;
		return message_imap_bodystructure(fx->item, fm->m->root,
		                                  f->kind == IMAP_FA_BODYSTRUCTURE, &fx->out);
	case IMAP_FA_BODY_SECTION:
		return write_body_section(fx, fm, f);
	case IMAP_FA_RFC822:
		return write_rfc822(fx, fm, "RFC822", MESSAGE_SECTION_BODY);
	case IMAP_FA_RFC822_HEADER:
		return write_rfc822(fx, fm, "RFC822.HEADER", MESSAGE_SECTION_HEADER);
	case IMAP_FA_RFC822_TEXT:
		return write_rfc822(fx, fm, "RFC822.TEXT", MESSAGE_SECTION_TEXT);
	case IMAP_FA_BINARY:
		return write_binary(fx, fm, f);
	case IMAP_FA_BINARY_SIZE:
		return write_binary_size(fx, fm, f);
	case IMAP_FA_PREVIEW:
		return write_preview(fx, fm);
	case IMAP_FA_EMAILID:
	case IMAP_FA_THREADID:
		break;
	}
	return -1;
}

/* "* seq FETCH (...)": UID first for UID FETCH (RFC 9051 §6.4.9) and,
 * with CONDSTORE, when \Seen was set (RFC 7162 §3.1: UID and MODSEQ in such
 * answers), the items in the order asked, then FLAGS when \Seen was set
 * (RFC 9051 §6.4.5) and MODSEQ when CONDSTORE is on (RFC 7162 §3.1.4.1). */
static int write_answer(struct fetch *fx, struct msg_state *ms)
{
	size_t items = 0;
	int r = buf_appendf(&fx->out, "* %u FETCH (", ms->seq);
	if (fx->uid_cmd || (fx->s->out.condstore && ms->flags_changed)) {
		r |= buf_appendf(&fx->out, "UID %u", ms->info->uid);
		ms->uid_done = true;
		items++;
	}
	for (size_t i = 0; r == 0 && i < fx->fe->n_atts; i++) {
		const struct imap_fetch_att *f = &fx->fe->atts[i];
		if ((f->kind == IMAP_FA_UID && ms->uid_done) ||
		    (f->kind == IMAP_FA_FLAGS && ms->flags_done) ||
		    (f->kind == IMAP_FA_MODSEQ && ms->modseq_done))
			continue;
		if (items++ > 0)
			r |= buf_append_char(&fx->out, ' ');
		if (r == 0)
			r = write_att(fx, ms, f);
		/* sent as it is made: an answer of many items never sits whole
		 * in memory */
		arena_reset(fx->item);
		if (r == 0 && fx->out.len >= FETCH_CHUNK)
			r = out_send(fx);
	}
	if (r == 0 && ms->flags_changed && !ms->flags_done) {
		r |= buf_append_str(&fx->out, items++ > 0 ? " " : "");
		r |= write_flags(fx, ms->flags, ms->info->keywords, ms->info->uid);
	}
	if (r == 0 && fx->add_modseq && !ms->modseq_done)
		r |= buf_appendf(&fx->out, "%sMODSEQ (%llu)", items++ > 0 ? " " : "",
		                 (unsigned long long)ms->modseq);
	if (r == 0)
		r = buf_append_str(&fx->out, ")\r\n");
	if (r != 0 && !fx->broken)
		error_set(&fx->e, ERR_LIMIT, "FETCH response too large");
	return r != 0 ? -1 : out_send(fx);
}

/* RFC 9051 §6.4.5: a non-PEEK body item sets \Seen. Returns 0, or -1 on a
 * store error. */
static int mark_seen(struct fetch *fx, struct msg_state *ms)
{
	if (!fx->set_seen || (ms->flags & STORE_FLAG_SEEN))
		return 0;
	struct store_uidrange r = { ms->info->uid, ms->info->uid };
	uint64_t modseq = 0;
	if (store_flags_update(fx->sel->acct, fx->sel->mailbox_id, &r, 1, STORE_FLAGS_ADD,
	                       STORE_FLAG_SEEN, NULL, 0, NULL, &modseq, &fx->e) != 0)
		return -1;
	ms->flags |= STORE_FLAG_SEEN;
	if (modseq != 0)
		ms->modseq = modseq;
	ms->flags_changed = true;
	/* This answer reports the change. When no other change came between
	 * (the modseq follows the view's), the view is still up to date and the
	 * next update need not send the same FETCH FLAGS again. */
	if (modseq != 0 && modseq == fx->sel->highestmodseq + 1)
		fx->sel->highestmodseq = modseq;
	return 0;
}

/* store_msg_list callback: answers one message. Non-zero stops the walk. */
static int fetch_one(void *ctx, const struct store_msginfo *info)
{
	struct fetch *fx = ctx;
	uint32_t seq = imapsrv_seq_of(fx->sel, info->uid);
	if (seq == 0)
		return 0;  /* not in this session's view (yet) */
	arena_reset(fx->a);
	struct fetch_msg fm = { 0 };
	struct msg_state ms = { .info = info, .seq = seq, .flags = info->flags,
	                        .modseq = info->modseq, .fm = &fm,
	                        .envelope_stored = envelope_stored(fx, info) };
	if (fx->need_file || (fx->want_envelope && !ms.envelope_stored)) {
		int r = msg_load(fx, info, &fm);
		if (r == 0) {
			fx->expunged = true;  /* RFC 9051 §7.1: answered with [EXPUNGEISSUED] */
			return 0;
		}
		if (r < 0) {
			fx->failed = true;
			return -1;
		}
		if (!binary_check(fx, &fm)) {
			msg_unmap(&fm);
			return 0;
		}
	}
	int r = mark_seen(fx, &ms);
	if (r == 0)
		r = write_answer(fx, &ms);
	msg_unmap(&fm);
	if (r == 0)
		fx->answered++;
	else
		fx->failed = true;
	return r;
}

/* ---- the command ---- */

/* Items the server does not offer or the session's protocol lacks. */
static bool atts_allowed(const struct imapsrv_session *s, const struct imap_fetch *fe,
                         struct imapsrv_result *r)
{
	for (size_t i = 0; i < fe->n_atts; i++) {
		enum imap_fetch_kind k = fe->atts[i].kind;
		if (k == IMAP_FA_EMAILID || k == IMAP_FA_THREADID) {
			/* RFC 8474 OBJECTID is not offered */
			imapsrv_result_set(r, "BAD", NULL, "%s is not supported",
			                   k == IMAP_FA_EMAILID ? "EMAILID" : "THREADID");
			return false;
		}
		if (s->out.rev2 && (k == IMAP_FA_RFC822 || k == IMAP_FA_RFC822_HEADER ||
		                    k == IMAP_FA_RFC822_TEXT)) {
			/* RFC 9051 Appendix E: RFC822, RFC822.HEADER and RFC822.TEXT
			 * are gone from IMAP4rev2 */
			imapsrv_result_set(r, "BAD", NULL, "RFC822 items are not part of IMAP4rev2: "
			                   "use BODY[], BODY.PEEK[HEADER] or BODY[TEXT]");
			return false;
		}
	}
	if (fe->vanished && !s->out.qresync) {
		/* RFC 7162 §3.2.6: VANISHED needs QRESYNC enabled */
		imapsrv_result_set(r, "BAD", NULL, "VANISHED needs ENABLE QRESYNC (RFC 7162 §3.2.6)");
		return false;
	}
	return true;
}

static void plan(struct fetch *fx)
{
	const struct imap_fetch *fe = fx->fe;
	for (size_t i = 0; i < fe->n_atts; i++) {
		att_needs(&fe->atts[i], &fx->need_file, &fx->need_parts);
		if (fe->atts[i].kind == IMAP_FA_ENVELOPE)
			fx->want_envelope = true;
		if (att_sets_seen(&fe->atts[i]) && !fx->sel->readonly)
			fx->set_seen = true;
	}
	/* RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ */
	fx->add_modseq = fx->s->out.condstore || fe->has_changedsince;
}

/* RFC 7162 §3.1: MODSEQ and CHANGEDSINCE are CONDSTORE enabling; the first
 * such command in a selected mailbox gets HIGHESTMODSEQ (§3.1.2.1). */
static int enable_condstore(struct fetch *fx)
{
	struct imapsrv_session *s = fx->s;
	if (s->out.condstore || !(fx->fe->has_changedsince || att_wanted(fx->fe, IMAP_FA_MODSEQ)))
		return 0;
	s->out.condstore = true;
	fx->add_modseq = true;
	buf_reset(&fx->out);
	buf_appendf(&fx->out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
	            (unsigned long long)fx->sel->highestmodseq);
	return out_send(fx);
}

/* RFC 7162 §3.2.6: UID FETCH ... (CHANGEDSINCE m VANISHED) first reports
 * the UIDs of the set expunged since m: "* VANISHED (EARLIER) uid-set".
 * UIDs the view still holds are left to the next update. */
static int send_vanished(struct fetch *fx)
{
	struct store_uids gone = { 0 };
	if (store_vanished(fx->sel->acct, fx->sel->mailbox_id, fx->fe->changedsince, &gone,
	                   &fx->e) != 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < gone.n; i++)
		if (imapsrv_ranges_has(fx->ranges, fx->n_ranges, gone.v[i]) &&
		    imapsrv_seq_of(fx->sel, gone.v[i]) == 0)
			gone.v[n++] = gone.v[i];
	int r = 0;
	if (n > 0) {
		buf_reset(&fx->out);
		buf_append_str(&fx->out, "* VANISHED (EARLIER) ");
		imapsrv_write_uidset(&fx->out, gone.v, n);
		buf_append_str(&fx->out, "\r\n");
		r = out_send(fx);
	}
	store_uids_free(&gone);
	return r;
}

/* The view's messages in the ranges: what a full answer holds. */
static void fetch_result(struct fetch *fx, int walk, struct imapsrv_result *r)
{
	if (walk != 0 && fx->e.kind == ERR_NOTFOUND) {
		imapsrv_result_set(r, "NO", "NONEXISTENT", "The mailbox no longer exists");
	} else if (walk != 0) {
		imapsrv_result_set(r, "NO", fx->e.kind == ERR_TEMP ? "UNAVAILABLE" : "SERVERBUG",
		                   "FETCH failed: %s", fx->e.msg);
	} else if (fx->fail_code != NULL) {
		imapsrv_result_set(r, "NO", *fx->fail_code != '\0' ? fx->fail_code : NULL, "%s",
		                   fx->fail_text);
	} else if (fx->expunged || (!fx->fe->has_changedsince &&
	                            fx->answered < imapsrv_view_count(fx->sel, fx->ranges, fx->n_ranges))) {
		/* RFC 9051 §7.1, RFC 5530 §3: some were expunged by another session */
		imapsrv_result_set(r, "NO", "EXPUNGEISSUED",
		                   "Some of the requested messages no longer exist");
	} else {
		imapsrv_result_set(r, "OK", NULL, "%sFETCH completed", fx->uid_cmd ? "UID " : "");
	}
}

int imapsrv_cmd_fetch(struct imapsrv_session *s, const struct imap_command *cmd,
                      struct imapsrv_result *r)
{
	if (s->sel == NULL) {
		imapsrv_result_set(r, "BAD", NULL, "No mailbox selected");
		return 0;
	}
	const struct imap_fetch *fe = &cmd->fetch;
	if (!atts_allowed(s, fe, r))
		return 0;
	struct fetch fx = { .s = s, .sel = s->sel, .fe = fe, .uid_cmd = cmd->uid };
	struct store_uidrange *ranges;
	if (imapsrv_seqset_ranges(s->sel, &fe->set, cmd->uid, s->cmd_arena, &ranges, &fx.n_ranges,
	                          &fx.e) != 0) {
		imapsrv_result_set(r, "BAD", NULL, "%s", fx.e.msg);
		return 0;
	}
	fx.ranges = ranges;
	plan(&fx);
	buf_init(&fx.out, FETCH_OUT_MAX);
	fx.a = arena_new(16 * 1024, ARENA_PLAIN);
	fx.item = arena_new(16 * 1024, ARENA_PLAIN);
	int walk = enable_condstore(&fx);
	if (walk == 0 && fe->vanished)
		walk = send_vanished(&fx);
	if (walk == 0 && fx.n_ranges > 0)
		walk = store_msg_list_want(s->sel->acct, s->sel->mailbox_id, ranges, fx.n_ranges,
		                           fe->has_changedsince ? fe->changedsince : 0,
		                           (fx.want_envelope ? STORE_LIST_ENVELOPE : 0) |
		                           (fx.need_parts ? STORE_LIST_STRUCTURE : 0), fetch_one,
		                           &fx, &fx.e);
	if (walk == 0 && fx.failed)
		walk = -1;
	buf_free(&fx.out);
	arena_free(&fx.a);
	arena_free(&fx.item);
	if (fx.broken)
		return -1;
	fetch_result(&fx, walk, r);
	return 0;
}
