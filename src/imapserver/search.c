/*
 * search.c: SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4), with
 * ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MODSEQ (RFC 7162 §3.1.5),
 * WITHIN (RFC 5032) and SAVEDATE (RFC 8514); and the evaluation of search
 * keys that SORT and THREAD share.
 *
 * Evaluation streams the view's messages with store_msg_list and evaluates
 * the key tree per message. Each key has a cost class: what the listing
 * gives (flags, size, dates, modseq, UID and sequence sets) is free, the
 * header block costs a file read, the decoded body a parse of the whole
 * message. AND lists are evaluated cheapest first and every operator stops
 * at the first decisive child, so a message that flags alone rule out is
 * never opened. FROM, TO, CC, BCC and SUBJECT are matched against the
 * search headers the store keeps (computed at delivery over the same header
 * block, the same texts field_has compares), read with the listing; only
 * messages stored before they were kept read their header from the file.
 *
 * BODY and TEXT strings of three characters or more are first looked up
 * in the store's trigram index (store_search_substring), which answers a
 * superset: the messages whose body may hold the string. A body is read
 * only for those candidates, and checked, so the answer is the same as
 * without the index. A BODY key that every match must satisfy (at the top
 * level, or inside ANDs there; never under NOT or OR) also narrows the
 * messages evaluated at all to its candidates. TEXT still reads every
 * header, which the index does not hold. The body text is the one the
 * index was given at delivery (message_summarize: the text parts decoded
 * to UTF-8, HTML without its markup, an HTML alternative left out when a
 * plain one exists), so a message the index rules out never holds the
 * string; the case folding here maps a character only to its own lower
 * case, which SQLite's folding agrees with.
 *
 * String matching (RFC 9051 §6.4.4): case-insensitive substring, on text
 * decoded to UTF-8 (RFC 2047 words in headers, transfer encodings and
 * charsets in bodies). Case is folded for ASCII and for the Latin, Greek
 * and Cyrillic letters of the two-byte UTF-8 range; other characters are
 * compared as they are.
 *
 * Dates: tern keeps INTERNALDATE and SAVEDATE as seconds since the epoch
 * without the zone of the moment they were taken, so BEFORE, ON, SINCE and
 * SAVED* compare the UTC date. SENT* use the date written in the Date:
 * header, in its own zone (RFC 9051 §6.4.4: "disregarding time and
 * timezone"); messages without a readable Date: use INTERNALDATE.
 */
#include "imapserver/internal.h"

#include "core/arena.h"
#include "message/message.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Most decoded body text searched per message. */
#define SEARCH_BODY_TEXT_MAX (32u * 1024 * 1024)
/* Most BODY/TEXT keys of one search looked up in the index (each holds a
 * list of candidates); further ones read every body. */
#define SEARCH_INDEXED_KEYS_MAX 16
/* Flushes a response in pieces of this size. */
#define SEARCH_WRITE_CHUNK 65536

/* ---- text ---- */

/* The lower case of a two-byte code point, where the mapping is one-to-one
 * and in the same range: Latin-1, Latin Extended-A, Greek, Cyrillic. */
static uint32_t fold_cp(uint32_t cp)
{
	if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
		return cp + 0x20;
	if ((cp >= 0x100 && cp <= 0x12f) || (cp >= 0x132 && cp <= 0x137) ||
	    (cp >= 0x14a && cp <= 0x177))
		return cp | 1;
	if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e))
		return (cp & 1) ? cp + 1 : cp;
	if (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2)
		return cp + 0x20;
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 0x50;
	return cp;
}

int imapsrv_casefold(const char *s, size_t n, struct buf *out)
{
	/* folding never lengthens: ASCII stays one byte, a two-byte code
	 * point folds to one of the same range (fold_cp) */
	if (n == 0)
		return 0;
	char *dst = buf_reserve(out, n);
	if (dst == NULL)
		return -1;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c < 0x80) {
			dst[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		} else if (c >= 0xc2 && c < 0xe0 && i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
			uint32_t cp = fold_cp(((uint32_t)(c & 0x1f) << 6) | (p[i + 1] & 0x3f));
			dst[o++] = (char)(0xc0 | (cp >> 6));
			dst[o++] = (char)(0x80 | (cp & 0x3f));
			i++;
		} else {
			dst[o++] = (char)c;  /* other code points, and bytes that are not UTF-8 */
		}
	}
	buf_commit(out, o);
	return 0;
}

/* Whether folded needle occurs in text (folded here). */
static bool text_has(const char *text, size_t n, const struct buf *needle)
{
	if (needle->len == 0)
		return true;
	if (text == NULL)
		return false;
	struct buf f;
	buf_init(&f, BUF_UNBOUNDED);
	imapsrv_casefold(text, n, &f);
	bool r = memmem(f.data, f.len, needle->data, needle->len) != NULL;
	buf_free(&f);
	return r;
}

/* ---- reading messages ---- */

int imapsrv_msg_header(struct imapsrv_session *s, uint32_t uid, struct arena *a,
                       struct message_headers *h, struct error *e)
{
	struct store_msgfile f;
	memset(h, 0, sizeof(*h));
	if (store_msg_open(s->sel->acct, s->sel->mailbox_id, uid, a, &f, e) != 0)
		return -1;
	struct buf b;
	buf_init(&b, f.prefix_len + MESSAGE_MAX_HEADER_BYTES + 4);
	buf_append(&b, f.prefix, f.prefix_len);
	off_t off = 0;
	int r = 0;
	for (;;) {
		size_t want = buf_room(&b) < 16384 ? buf_room(&b) : 16384;
		char *dst = want > 0 ? buf_reserve(&b, want) : NULL;
		if (dst == NULL)
			break;  /* header larger than the limit: the parser cuts it */
		ssize_t n = pread(f.fd, dst, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = error_errno(e, errno, "reading message %u", uid);
			break;
		}
		if (n == 0)
			break;
		size_t from = b.len > 2 ? b.len - 2 : 0;
		buf_commit(&b, (size_t)n);
		off += n;
		if (message_header_complete(b.data, b.len, from))
			break;
	}
	close(f.fd);
	if (r == 0 && b.len > 0) {
		char *data = arena_alloc(a, b.len);
		memcpy(data, b.data, b.len);
		unsigned flags;
		message_headers_parse(a, data, b.len, MESSAGE_MAX_HEADER_BYTES, h, &flags);
	}
	buf_free(&b);
	return r;
}

/* The file of a message mapped and parsed. */
struct mapped_msg {
	void *map;
	size_t size;
	struct message *m;
};

static int map_message(struct imapsrv_session *s, uint32_t uid, struct arena *a,
                       struct mapped_msg *mm, struct error *e)
{
	struct store_msgfile f;
	memset(mm, 0, sizeof(*mm));
	if (store_msg_open(s->sel->acct, s->sel->mailbox_id, uid, a, &f, e) != 0)
		return -1;
	mm->size = (size_t)f.file_size;
	if (mm->size > 0) {
		mm->map = mmap(NULL, mm->size, PROT_READ, MAP_PRIVATE, f.fd, 0);
		if (mm->map == MAP_FAILED) {
			int err = errno;
			close(f.fd);
			mm->map = NULL;
			return error_errno(e, err, "mapping message %u", uid);
		}
	}
	close(f.fd);
	mm->m = message_parse(a, mm->map != NULL ? mm->map : "", mm->size, NULL);
	return 0;
}

static void unmap_message(struct mapped_msg *mm)
{
	if (mm->map != NULL)
		munmap(mm->map, mm->size);
	mm->map = NULL;
}

/* ---- dates ---- */

int64_t imapsrv_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

/* ---- the key tree, prepared ---- */

enum cost {
	COST_INFO = 0,    /* what store_msg_list gives */
	COST_HEADER = 1,  /* the header block */
	COST_BODY = 2,    /* the decoded body */
};

struct node {
	const struct imap_search_key *k;
	enum cost cost;
	struct node **kids;          /* AND: by cost; NOT: 1; OR: 2 */
	size_t n;
	struct store_uidrange *ranges;
	size_t n_ranges;
	bool empty_set;              /* a sequence set in an empty view */
	struct buf needle;           /* folded search string */
	int64_t day;                 /* date keys: days since the epoch */
	unsigned flag;               /* KEYWORD/UNKEYWORD of a system flag */
	bool indexed;                /* BODY/TEXT: cand holds the index's candidates */
	struct store_uids cand;      /* ascending UIDs whose body may hold needle */
};

struct eval {
	struct imapsrv_session *s;
	struct arena *prep;          /* the prepared tree */
	struct arena *msg;           /* per message, reset */
	struct arena *key;           /* per key: the field texts it decodes, reset */
	struct node **all;           /* every node, to free buffers */
	size_t n_all, cap_all;
	int64_t now;
	/* the output */
	struct store_uids *out;
	uint64_t max_modseq;
	/* the message being evaluated */
	const struct store_msginfo *m;
	bool hdr_done;
	struct message_headers hdr;
	bool body_done;
	struct buf body;             /* decoded and folded */
	int failed;
	struct error *e;
	size_t n_indexed;            /* BODY/TEXT keys looked up in the index */
	/* the candidates of the BODY keys every match satisfies (ascending) */
	bool narrowed;
	struct store_uids candidates;
	unsigned want;               /* enum store_list_want for the listing */
};

static bool uids_push(struct store_uids *u, uint32_t uid)
{
	if (u->n == u->cap_) {
		size_t cap = u->cap_ ? u->cap_ * 2 : 64;
		uint32_t *v = realloc(u->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		u->v = v;
		u->cap_ = cap;
	}
	u->v[u->n++] = uid;
	return true;
}

static const struct { const char *name; unsigned flag; } system_flags[] = {
	{"\\Seen", STORE_FLAG_SEEN}, {"\\Answered", STORE_FLAG_ANSWERED},
	{"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_DELETED},
	{"\\Draft", STORE_FLAG_DRAFT},
};

static int node_cmp(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
	return (int)x->cost - (int)y->cost;
}

static int range_cmp(const void *a, const void *b)
{
	const struct store_uidrange *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* A sequence set as UID ranges (sorted, merged). Numbers beyond the view
 * match nothing: a search names messages, it does not act on them, so it
 * answers rather than fails (as imaptest's esearch script expects). */
static void seq_ranges(struct eval *ev, struct node *nd)
{
	const struct imapsrv_selected *sel = ev->s->sel;
	const struct imap_seqset *set = &nd->k->set;
	uint32_t n = (uint32_t)sel->n;
	nd->ranges = arena_alloc(ev->prep, (set->n ? set->n : 1) * sizeof(*nd->ranges));
	size_t m = 0;
	for (size_t i = 0; i < set->n; i++) {
		uint32_t a = set->r[i].first != 0 ? set->r[i].first : n;
		uint32_t b = set->r[i].last != 0 ? set->r[i].last : n;
		if (a > b) {
			uint32_t t = a;
			a = b;
			b = t;
		}
		if (a == 0 || a > n)
			continue;
		if (b > n)
			b = n;
		nd->ranges[m].first = sel->uids[a - 1];
		nd->ranges[m].last = sel->uids[b - 1];
		m++;
	}
	if (m > 1)
		qsort(nd->ranges, m, sizeof(*nd->ranges), range_cmp);
	size_t out = 0;
	for (size_t i = 0; i < m; i++) {
		if (out > 0 && nd->ranges[i].first <= nd->ranges[out - 1].last) {
			if (nd->ranges[i].last > nd->ranges[out - 1].last)
				nd->ranges[out - 1].last = nd->ranges[i].last;
		} else {
			nd->ranges[out++] = nd->ranges[i];
		}
	}
	nd->n_ranges = out;
	nd->empty_set = out == 0;
}

static struct node *prepare(struct eval *ev, const struct imap_search_key *k, struct error *e);

/* Asks the store's index which messages' bodies may hold the string of a
 * BODY or TEXT key (a superset, store_search_substring). A string it cannot
 * look up (short, not UTF-8) leaves the key unindexed: it reads every body. */
static int lookup_index(struct eval *ev, struct node *nd, struct error *e)
{
	const char *str = nd->k->str;
	if (ev->s->sel->n == 0 || ev->n_indexed >= SEARCH_INDEXED_KEYS_MAX ||
	    strlen(str) < STORE_FTS_SUBSTRING_MIN)
		return 0;
	if (store_search_substring(ev->s->sel->acct, ev->s->sel->mailbox_id, str, &nd->cand,
	                           e) != 0) {
		store_uids_free(&nd->cand);
		return e->kind == ERR_INVALID ? 0 : -1;
	}
	nd->indexed = true;
	ev->n_indexed++;
	return 0;
}

static int prepare_kids(struct eval *ev, struct node *nd, struct error *e)
{
	const struct imap_search_key *k = nd->k;
	if (k->kind == IMAP_SK_AND) {
		nd->n = k->n;
		nd->kids = arena_alloc(ev->prep, (k->n ? k->n : 1) * sizeof(*nd->kids));
		for (size_t i = 0; i < k->n; i++)
			if ((nd->kids[i] = prepare(ev, k->list[i], e)) == NULL)
				return -1;
		/* cheapest first; qsort is not stable, but any order is correct */
		qsort(nd->kids, nd->n, sizeof(*nd->kids), node_cmp);
	} else {
		nd->n = k->kind == IMAP_SK_OR ? 2 : 1;
		nd->kids = arena_alloc(ev->prep, 2 * sizeof(*nd->kids));
		if ((nd->kids[0] = prepare(ev, k->a, e)) == NULL)
			return -1;
		if (nd->n == 2 && (nd->kids[1] = prepare(ev, k->b, e)) == NULL)
			return -1;
		/* OR: the cheaper side first */
		if (nd->n == 2 && nd->kids[1]->cost < nd->kids[0]->cost) {
			struct node *t = nd->kids[0];
			nd->kids[0] = nd->kids[1];
			nd->kids[1] = t;
		}
	}
	for (size_t i = 0; i < nd->n; i++)
		if (nd->kids[i]->cost > nd->cost)
			nd->cost = nd->kids[i]->cost;
	return 0;
}

static struct node *prepare(struct eval *ev, const struct imap_search_key *k, struct error *e)
{
	struct node *nd = arena_alloc(ev->prep, sizeof(*nd));
	nd->k = k;
	nd->cost = COST_INFO;
	buf_init(&nd->needle, BUF_UNBOUNDED);
	ev->all = arena_grow(ev->prep, ev->all, ev->n_all, &ev->cap_all, sizeof(*ev->all), 16);
	ev->all[ev->n_all++] = nd;
	switch (k->kind) {
	case IMAP_SK_AND:
	case IMAP_SK_NOT:
	case IMAP_SK_OR:
		return prepare_kids(ev, nd, e) == 0 ? nd : NULL;
	case IMAP_SK_SEQSET:
	case IMAP_SK_UID:
		if (k->kind == IMAP_SK_SEQSET && !k->set.saved) {
			seq_ranges(ev, nd);
			return nd;
		}
		/* UIDs, or "$", which holds UIDs */
		if (ev->s->sel->n == 0 && !k->set.saved) {
			nd->empty_set = true;
			return nd;
		}
		if (imapsrv_seqset_ranges(ev->s->sel, &k->set, true, ev->prep, &nd->ranges,
		                          &nd->n_ranges, e) != 0)
			return NULL;
		return nd;
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD:
		for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++)
			if (strcasecmp(k->str, system_flags[i].name) == 0)
				nd->flag = system_flags[i].flag;
		return nd;
	case IMAP_SK_BEFORE: case IMAP_SK_ON: case IMAP_SK_SINCE:
	case IMAP_SK_SAVEDBEFORE: case IMAP_SK_SAVEDON: case IMAP_SK_SAVEDSINCE:
		nd->day = imapsrv_days_from_civil(k->date.year, k->date.month, k->date.day);
		return nd;
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
		nd->day = imapsrv_days_from_civil(k->date.year, k->date.month, k->date.day);
		nd->cost = COST_HEADER;
		return nd;
	case IMAP_SK_BCC: case IMAP_SK_CC: case IMAP_SK_FROM: case IMAP_SK_SUBJECT:
	case IMAP_SK_TO: case IMAP_SK_HEADER: {
		const char *str = k->kind == IMAP_SK_HEADER ? k->str2 : k->str;
		imapsrv_casefold(str, strlen(str), &nd->needle);
		nd->cost = COST_HEADER;
		if (k->kind != IMAP_SK_HEADER)
			ev->want |= STORE_LIST_SEARCH_HEADERS;
		return nd;
	}
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		imapsrv_casefold(k->str, strlen(k->str), &nd->needle);
		nd->cost = COST_BODY;
		return lookup_index(ev, nd, e) == 0 ? nd : NULL;
	default:
		return nd;
	}
}

static void release(struct eval *ev)
{
	for (size_t i = 0; i < ev->n_all; i++) {
		buf_free(&ev->all[i]->needle);
		store_uids_free(&ev->all[i]->cand);
	}
	buf_free(&ev->body);
}

/* ---- per message ---- */

static const struct message_headers *headers(struct eval *ev)
{
	if (!ev->hdr_done) {
		ev->hdr_done = true;
		if (imapsrv_msg_header(ev->s, ev->m->uid, ev->msg, &ev->hdr, ev->e) != 0) {
			/* expunged meanwhile: the message is no longer there to match */
			if (ev->e->kind != ERR_NOTFOUND)
				ev->failed = -1;
			memset(&ev->hdr, 0, sizeof(ev->hdr));
		}
	}
	return &ev->hdr;
}

/* The body text, folded: the text the store's index was given at delivery
 * (message_summarize), here without its size limit. */
static const struct buf *body_text(struct eval *ev)
{
	if (ev->body_done)
		return &ev->body;
	ev->body_done = true;
	buf_reset(&ev->body);
	struct mapped_msg mm;
	if (map_message(ev->s, ev->m->uid, ev->msg, &mm, ev->e) != 0) {
		if (ev->e->kind != ERR_NOTFOUND)
			ev->failed = -1;
		return &ev->body;
	}
	struct message_summary sum;
	message_summarize(ev->msg, mm.m, true, SEARCH_BODY_TEXT_MAX, &sum);
	if (sum.body != NULL)
		imapsrv_casefold(sum.body, strlen(sum.body), &ev->body);
	unmap_message(&mm);
	return &ev->body;
}

/* Whether an address list holds needle as ENVELOPE shows it (RFC 9051
 * §6.4.4 FROM etc. search "the envelope structure's" field): display names
 * decoded, addresses without comments or folding. */
static bool addresses_have(struct eval *ev, const char *v, size_t n, const struct buf *needle)
{
	struct message_address_list list;
	message_address_parse(ev->key, v, n, MESSAGE_ADDRESS_PLAIN, &list);
	for (size_t i = 0; i < list.count; i++) {
		const struct message_address *ad = &list.items[i];
		const char *text = arena_printf(ev->key, "%s <%s>", ad->name != NULL ? ad->name : "",
		                                ad->address != NULL ? ad->address : "");
		if (text_has(text, strlen(text), needle))
			return true;
	}
	return false;
}

/* Whether some field named name holds needle in its decoded value (or, for
 * address fields, in its addresses); for HEADER with an empty string,
 * whether the field is present. */
static bool field_has_in(struct eval *ev, const char *name, const struct buf *needle,
                         bool addresses)
{
	const struct message_headers *h = headers(ev);
	for (const struct message_header *f = message_header_find(h, name, NULL); f != NULL;
	     f = message_header_find(h, name, f)) {
		if (needle->len == 0)
			return true;
		size_t n;
		char *v = message_header_unfold(ev->key, f->value, f->value_len, &n);
		if (addresses && addresses_have(ev, v, n, needle))
			return true;
		char *d = message_decode_text(ev->key, v, n, &n);
		if (text_has(d, n, needle))
			return true;
	}
	return false;
}

/* Each key's copies of the fields go when it is done: many keys on a
 * large header cost one field's copies, not one per key. */
static bool field_has(struct eval *ev, const char *name, const struct buf *needle,
                      bool addresses)
{
	bool r = field_has_in(ev, name, needle, addresses);
	arena_reset(ev->key);
	return r;
}

/* field_has over the stored search headers: 1 if a record of the field
 * (letter as store_search_headers_next gives it) holds needle, or, for an
 * empty needle, if there is one; 0 if not; -1 if they are unreadable. */
static int stored_field_has(struct eval *ev, char letter, const struct buf *needle)
{
	const struct store_msginfo *m = ev->m;
	struct store_search_text t;
	size_t pos = 0;
	int r;
	while ((r = store_search_headers_next(m->search_headers, m->search_headers_len, &pos,
	                                      &t)) == 1)
		if (t.field == letter && text_has(t.text, t.len, needle))
			return 1;
	return r;
}

/* FROM, TO, CC, BCC (with their addresses) and SUBJECT: from the stored
 * search headers when the message has them, else from its header. */
static bool search_field_has(struct eval *ev, const char *name, char letter,
                             const struct buf *needle)
{
	int r = ev->m->search_headers != NULL ? stored_field_has(ev, letter, needle) : -1;
	if (r >= 0)
		return r == 1;
	return field_has(ev, name, needle, letter != 's');
}

/* TEXT in the header: field names and decoded values. */
static bool header_text_has(struct eval *ev, const struct buf *needle)
{
	const struct message_headers *h = headers(ev);
	bool found = false;
	for (size_t i = 0; i < h->count && !found; i++) {
		const struct message_header *f = &h->fields[i];
		size_t n;
		char *v = message_header_unfold(ev->key, f->value, f->value_len, &n);
		char *d = message_decode_text(ev->key, v, n, &n);
		char *line = arena_printf(ev->key, "%.*s: %s", (int)f->name_len, f->name, d);
		found = text_has(line, strlen(line), needle);
		arena_reset(ev->key);  /* one field's copies at a time */
	}
	return found;
}

/* The day the Date: header names in its own zone, or the INTERNALDATE's. */
static int64_t sent_day(struct eval *ev)
{
	const char *v = message_header_get(ev->msg, headers(ev), "Date");
	struct message_date d;
	if (v != NULL && message_date_parse(v, strlen(v), &d) == 0)
		return imapsrv_days_from_civil(d.year, d.month, d.day);
	return day_of(ev->m->received);
}

static bool has_keyword(const char *keywords, const char *kw)
{
	size_t n = strlen(kw);
	for (const char *p = keywords; *p != '\0';) {
		while (*p == ' ')
			p++;
		const char *end = strchr(p, ' ');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == n && len > 0 && strncasecmp(p, kw, n) == 0)
			return true;
		p += len;
	}
	return false;
}

static bool keyword_set(const struct node *nd, const struct store_msginfo *m)
{
	if (nd->flag != 0)
		return (m->flags & nd->flag) != 0;
	return has_keyword(m->keywords != NULL ? m->keywords : "", nd->k->str);
}

static bool date_match(enum imap_search_kind kind, int64_t day, int64_t key_day)
{
	switch (kind) {
	case IMAP_SK_BEFORE: case IMAP_SK_SENTBEFORE: case IMAP_SK_SAVEDBEFORE:
		return day < key_day;
	case IMAP_SK_ON: case IMAP_SK_SENTON: case IMAP_SK_SAVEDON:
		return day == key_day;
	default:
		return day >= key_day;
	}
}

/* RFC 3501 §2.3.2 \Recent; IMAP4rev2 has none (RFC 9051 appendix E). */
static bool is_recent(struct eval *ev)
{
	return imapsrv_is_recent(ev->s, ev->m->uid);
}

static bool uids_have(const struct store_uids *u, uint32_t uid)
{
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (u->v[mid] == uid)
			return true;
		if (u->v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool match(struct eval *ev, struct node *nd);

static bool match_bodytext(struct eval *ev, struct node *nd)
{
	if (nd->needle.len == 0)
		return true;
	/* RFC 9051 §6.4.4: TEXT covers the header too; it is the cheaper half */
	if (nd->k->kind == IMAP_SK_TEXT && header_text_has(ev, &nd->needle))
		return true;
	if (nd->indexed && !uids_have(&nd->cand, ev->m->uid))
		return false;  /* the index rules its body out */
	const struct buf *b = body_text(ev);
	return memmem(b->data, b->len, nd->needle.data, nd->needle.len) != NULL;
}

static bool match(struct eval *ev, struct node *nd)
{
	const struct store_msginfo *m = ev->m;
	const struct imap_search_key *k = nd->k;
	switch (k->kind) {
	case IMAP_SK_AND:
		for (size_t i = 0; i < nd->n; i++)
			if (!match(ev, nd->kids[i]))
				return false;
		return true;
	case IMAP_SK_OR:
		return match(ev, nd->kids[0]) || match(ev, nd->kids[1]);
	case IMAP_SK_NOT:
		return !match(ev, nd->kids[0]);
	case IMAP_SK_ALL:
	case IMAP_SK_SAVEDATESUPPORTED:  /* RFC 8514 §4: every tern mailbox keeps SAVEDATE */
		return true;
	case IMAP_SK_ANSWERED: return (m->flags & STORE_FLAG_ANSWERED) != 0;
	case IMAP_SK_DELETED: return (m->flags & STORE_FLAG_DELETED) != 0;
	case IMAP_SK_DRAFT: return (m->flags & STORE_FLAG_DRAFT) != 0;
	case IMAP_SK_FLAGGED: return (m->flags & STORE_FLAG_FLAGGED) != 0;
	case IMAP_SK_SEEN: return (m->flags & STORE_FLAG_SEEN) != 0;
	case IMAP_SK_UNANSWERED: return (m->flags & STORE_FLAG_ANSWERED) == 0;
	case IMAP_SK_UNDELETED: return (m->flags & STORE_FLAG_DELETED) == 0;
	case IMAP_SK_UNDRAFT: return (m->flags & STORE_FLAG_DRAFT) == 0;
	case IMAP_SK_UNFLAGGED: return (m->flags & STORE_FLAG_FLAGGED) == 0;
	case IMAP_SK_UNSEEN: return (m->flags & STORE_FLAG_SEEN) == 0;
	/* RFC 3501 §6.4.4: NEW is RECENT UNSEEN, OLD is NOT RECENT */
	case IMAP_SK_RECENT: return is_recent(ev);
	case IMAP_SK_NEW: return is_recent(ev) && (m->flags & STORE_FLAG_SEEN) == 0;
	case IMAP_SK_OLD: return !is_recent(ev);
	case IMAP_SK_KEYWORD: return keyword_set(nd, m);
	case IMAP_SK_UNKEYWORD: return !keyword_set(nd, m);
	case IMAP_SK_BEFORE: case IMAP_SK_ON: case IMAP_SK_SINCE:
		return date_match(k->kind, day_of(m->received), nd->day);
	case IMAP_SK_SAVEDBEFORE: case IMAP_SK_SAVEDON: case IMAP_SK_SAVEDSINCE:
		return date_match(k->kind, day_of(m->saved), nd->day);
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
		return date_match(k->kind, sent_day(ev), nd->day);
	case IMAP_SK_LARGER: return m->size > k->num;
	case IMAP_SK_SMALLER: return m->size < k->num;
	/* RFC 5032 §3: OLDER n: INTERNALDATE more than n seconds ago; YOUNGER n:
	 * within the last n seconds */
	case IMAP_SK_OLDER: return ev->now - m->received > (int64_t)k->num;
	case IMAP_SK_YOUNGER: return ev->now - m->received <= (int64_t)k->num;
	/* RFC 7162 §3.1.5: modseq >= the value; tern keeps one modseq per
	 * message, which stands for every entry name */
	case IMAP_SK_MODSEQ: return m->modseq >= k->num;
	case IMAP_SK_UID:
	case IMAP_SK_SEQSET:
		return !nd->empty_set && imapsrv_ranges_has(nd->ranges, nd->n_ranges, m->uid);
	case IMAP_SK_FROM: return search_field_has(ev, "From", 'f', &nd->needle);
	case IMAP_SK_TO: return search_field_has(ev, "To", 't', &nd->needle);
	case IMAP_SK_CC: return search_field_has(ev, "Cc", 'c', &nd->needle);
	case IMAP_SK_BCC: return search_field_has(ev, "Bcc", 'b', &nd->needle);
	case IMAP_SK_SUBJECT: return search_field_has(ev, "Subject", 's', &nd->needle);
	case IMAP_SK_HEADER: return field_has(ev, k->str, &nd->needle, false);
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		return match_bodytext(ev, nd);
	}
	return false;
}

/* Keeps in a the UIDs also in b (both ascending). */
static void uids_intersect(struct store_uids *a, const struct store_uids *b)
{
	size_t n = 0;
	for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
		if (a->v[i] < b->v[j]) {
			i++;
		} else if (a->v[i] > b->v[j]) {
			j++;
		} else {
			a->v[n++] = a->v[i];
			i++;
			j++;
		}
	}
	a->n = n;
}

/* Narrows ev->candidates by the indexed BODY keys of nd that every match
 * satisfies: nd itself, or the members of an AND (RFC 9051 §6.4.4: keys in
 * a list all apply). Keys under NOT or OR, and TEXT (whose header the index
 * does not hold), only skip bodies as they are evaluated (match_bodytext). */
static int narrow(struct eval *ev, const struct node *nd)
{
	if (nd->k->kind == IMAP_SK_AND) {
		for (size_t i = 0; i < nd->n; i++)
			if (narrow(ev, nd->kids[i]) != 0)
				return -1;
		return 0;
	}
	if (nd->k->kind != IMAP_SK_BODY || !nd->indexed)
		return 0;
	if (ev->narrowed) {
		uids_intersect(&ev->candidates, &nd->cand);
		return 0;
	}
	for (size_t i = 0; i < nd->cand.n; i++)
		if (!uids_push(&ev->candidates, nd->cand.v[i]))
			return -1;
	ev->narrowed = true;
	return 0;
}

static int eval_one(void *ctx, const struct store_msginfo *m)
{
	struct eval *ev = ctx;
	if (imapsrv_seq_of(ev->s->sel, m->uid) == 0)
		return 0;  /* not in this session's view */
	if (ev->narrowed && !uids_have(&ev->candidates, m->uid))
		return 0;  /* the index rules it out */
	ev->m = m;
	ev->hdr_done = ev->body_done = false;
	bool ok = match(ev, ev->all[0]);
	arena_reset(ev->msg);
	if (ev->failed)
		return -1;
	if (ok) {
		if (!uids_push(ev->out, m->uid)) {
			ev->failed = -1;
			error_set(ev->e, ERR_LIMIT, "out of memory");
			return -1;
		}
		if (m->modseq > ev->max_modseq)
			ev->max_modseq = m->modseq;
	}
	return 0;
}

bool imapsrv_search_uses_modseq(const struct imap_search_key *k)
{
	if (k == NULL)
		return false;
	if (k->kind == IMAP_SK_MODSEQ)
		return true;
	if (k->kind == IMAP_SK_AND) {
		for (size_t i = 0; i < k->n; i++)
			if (imapsrv_search_uses_modseq(k->list[i]))
				return true;
		return false;
	}
	return imapsrv_search_uses_modseq(k->a) || imapsrv_search_uses_modseq(k->b);
}

int imapsrv_search_eval(struct imapsrv_session *s, const struct imap_search_key *key,
                        struct store_uids *out, uint64_t *max_modseq_r, struct error *e)
{
	if (max_modseq_r != NULL)
		*max_modseq_r = 0;
	if (s->sel == NULL)
		return error_set(e, ERR_INVALID, "no mailbox selected");
	struct eval ev = {.s = s, .out = out, .e = e, .now = (int64_t)time(NULL)};
	ev.prep = arena_new(4096, ARENA_PLAIN);
	ev.msg = arena_new(16384, ARENA_PLAIN);
	ev.key = arena_new(16384, ARENA_PLAIN);
	buf_init(&ev.body, BUF_UNBOUNDED);
	int r = prepare(&ev, key, e) != NULL ? 0 : -1;
	if (r == 0 && narrow(&ev, ev.all[0]) != 0)
		r = error_set(e, ERR_LIMIT, "out of memory");
	if (r == 0 && s->sel->n > 0 && !(ev.narrowed && ev.candidates.n == 0)) {
		struct store_uidrange view = {s->sel->uids[0], s->sel->uids[s->sel->n - 1]};
		r = store_msg_list_want(s->sel->acct, s->sel->mailbox_id, &view, 1, 0, ev.want,
		                        eval_one, &ev, e);
		if (ev.failed)
			r = -1;
	}
	if (r == 0 && max_modseq_r != NULL)
		*max_modseq_r = ev.max_modseq;
	release(&ev);
	store_uids_free(&ev.candidates);
	arena_free(&ev.msg);
	arena_free(&ev.key);
	arena_free(&ev.prep);
	return r;
}

/* ---- the command ---- */

int imapsrv_check_charset(const struct imap_search *sr, struct imapsrv_result *r)
{
	/* RFC 9051 §6.4.4: US-ASCII and UTF-8 must be supported; for any other
	 * charset the answer is NO [BADCHARSET] listing the supported ones */
	if (sr->charset == NULL || strcasecmp(sr->charset, "UTF-8") == 0 ||
	    strcasecmp(sr->charset, "US-ASCII") == 0)
		return 0;
	imapsrv_result_set(r, "NO", "BADCHARSET (UTF-8 US-ASCII)", "charset %s is not supported",
	                   sr->charset);
	return -1;
}

void imapsrv_search_failed(const struct error *e, struct imapsrv_result *r)
{
	if (e->kind == ERR_INVALID)
		imapsrv_result_set(r, "BAD", NULL, "%s", e->msg);
	else
		imapsrv_result_set(r, "NO", e->kind == ERR_TEMP ? "UNAVAILABLE" : "SERVERBUG",
		                   "search failed: %s", e->msg);
}

/* Writes b when it holds a chunk, or always with force. */
static int send_chunk(struct imapsrv_session *s, struct buf *b, bool force)
{
	if (!force && b->len < SEARCH_WRITE_CHUNK)
		return 0;
	int r = imapsrv_send(s, b);
	buf_reset(b);
	return r;
}

static int write_numbers(struct imapsrv_session *s, struct buf *b, const uint32_t *v, size_t n,
                         bool uid)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t num = uid ? v[i] : imapsrv_seq_of(s->sel, v[i]);
		if (buf_appendf(b, " %u", num) != 0 || send_chunk(s, b, false) != 0)
			return -1;
	}
	return 0;
}

/* The modseq of one message (for MIN/MAX with MODSEQ). */
struct modseq_ctx {
	uint64_t modseq;
};

static int modseq_one(void *ctx, const struct store_msginfo *m)
{
	struct modseq_ctx *mc = ctx;
	if (m->modseq > mc->modseq)
		mc->modseq = m->modseq;
	return 0;
}

static uint64_t modseq_of(struct imapsrv_session *s, const uint32_t *uids, size_t n)
{
	struct store_uidrange r[2];
	for (size_t i = 0; i < n; i++)
		r[i].first = r[i].last = uids[i];
	struct modseq_ctx mc = {0};
	struct error e;
	if (store_msg_list(s->sel->acct, s->sel->mailbox_id, r, n, 0, modseq_one, &mc, &e) != 0)
		return 0;
	return mc.modseq;
}

/* RFC 4731 §3.1, RFC 9051 §7.3.4: * ESEARCH (TAG "t") [UID] MIN MAX COUNT ALL. */
static int write_esearch(struct imapsrv_session *s, const struct imap_command *cmd,
                         unsigned ret, const struct store_uids *res, bool modseq,
                         uint64_t max_modseq)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "* ESEARCH (TAG \"%s\")%s", cmd->tag, cmd->uid ? " UID" : "");
	uint32_t first = 0, last = 0;
	if (res->n > 0) {
		first = cmd->uid ? res->v[0] : imapsrv_seq_of(s->sel, res->v[0]);
		last = cmd->uid ? res->v[res->n - 1] : imapsrv_seq_of(s->sel, res->v[res->n - 1]);
	}
	if ((ret & IMAP_SR_MIN) && res->n > 0)
		buf_appendf(&b, " MIN %u", first);
	if ((ret & IMAP_SR_MAX) && res->n > 0)
		buf_appendf(&b, " MAX %u", last);
	if (ret & IMAP_SR_COUNT)
		buf_appendf(&b, " COUNT %zu", res->n);
	if ((ret & IMAP_SR_ALL) && res->n > 0) {
		buf_append_str(&b, " ALL ");
		if (cmd->uid) {
			imapsrv_write_uidset(&b, res->v, res->n);
		} else {
			uint32_t *seqs = malloc(res->n * sizeof(*seqs));
			if (seqs == NULL) {
				buf_free(&b);
				return -1;
			}
			for (size_t i = 0; i < res->n; i++)
				seqs[i] = imapsrv_seq_of(s->sel, res->v[i]);
			imapsrv_write_uidset(&b, seqs, res->n);
			free(seqs);
		}
	}
	/* RFC 7162 §3.1.5 with RFC 4731: the highest modseq of the messages
	 * returned; with MIN and/or MAX alone, of those messages */
	if (modseq && res->n > 0) {
		uint64_t ms = max_modseq;
		if (!(ret & (IMAP_SR_ALL | IMAP_SR_COUNT))) {
			uint32_t ends[2] = {0, 0};
			size_t n = 0;
			if (ret & IMAP_SR_MIN)
				ends[n++] = res->v[0];
			if (ret & IMAP_SR_MAX)
				ends[n++] = res->v[res->n - 1];
			ms = modseq_of(s, ends, n);
		}
		buf_appendf(&b, " MODSEQ %llu", (unsigned long long)ms);
	}
	buf_append_str(&b, "\r\n");
	int r = imapsrv_send(s, &b);
	buf_free(&b);
	return r;
}

/* RFC 3501 §7.2.5: * SEARCH n n n, with (MODSEQ m) after RFC 7162 §3.1.5. */
int imapsrv_write_search(struct imapsrv_session *s, const char *word, const struct store_uids *res,
                         bool uid, bool modseq, uint64_t max_modseq)
{
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);
	buf_appendf(&b, "* %s", word);
	int r = write_numbers(s, &b, res->v, res->n, uid);
	if (r == 0 && modseq && res->n > 0)
		buf_appendf(&b, " (MODSEQ %llu)", (unsigned long long)max_modseq);
	if (r == 0) {
		buf_append_str(&b, "\r\n");
		r = imapsrv_send(s, &b);
	}
	buf_free(&b);
	return r;
}

/* RFC 5182 §2.4: with MIN and/or MAX but neither ALL nor COUNT, "$" holds
 * just those messages; otherwise every match. */
static void save_result(struct imapsrv_selected *sel, unsigned ret, const struct store_uids *res)
{
	sel->saved.n = 0;
	if (res->n == 0)
		return;
	if ((ret & (IMAP_SR_MIN | IMAP_SR_MAX)) && !(ret & (IMAP_SR_ALL | IMAP_SR_COUNT))) {
		if (ret & IMAP_SR_MIN)
			uids_push(&sel->saved, res->v[0]);
		if ((ret & IMAP_SR_MAX) && !(res->n == 1 && (ret & IMAP_SR_MIN)))
			uids_push(&sel->saved, res->v[res->n - 1]);
		return;
	}
	for (size_t i = 0; i < res->n; i++)
		uids_push(&sel->saved, res->v[i]);
}

/* RFC 7162 §3.1: MODSEQ in a search enables CONDSTORE; the first enabling
 * command with a mailbox selected gets its HIGHESTMODSEQ. */
int imapsrv_search_enable_condstore(struct imapsrv_session *s)
{
	if (s->out.condstore)
		return 0;
	s->out.condstore = true;
	struct buf b;
	buf_init(&b, 256);
	buf_appendf(&b, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
	            (unsigned long long)s->sel->highestmodseq);
	int r = imapsrv_send(s, &b);
	buf_free(&b);
	return r;
}

int imapsrv_cmd_search(struct imapsrv_session *s, const struct imap_command *cmd,
                       struct imapsrv_result *r)
{
	const struct imap_search *sr = &cmd->search;
	bool save = (sr->ret & IMAP_SR_SAVE) != 0;
	if (s->sel == NULL) {
		imapsrv_result_set(r, "BAD", NULL, "no mailbox selected");
		return 0;
	}
	if (imapsrv_check_charset(sr, r) != 0) {
		if (save)
			s->sel->saved.n = 0;  /* RFC 5182 §2.1: a failed SAVE empties "$" */
		return 0;
	}
	struct store_uids res = {0};
	uint64_t max_modseq = 0;
	struct error e;
	if (imapsrv_search_eval(s, sr->key, &res, &max_modseq, &e) != 0) {
		store_uids_free(&res);
		if (save)
			s->sel->saved.n = 0;
		imapsrv_search_failed(&e, r);
		return 0;
	}
	bool modseq = imapsrv_search_uses_modseq(sr->key);
	int rc = 0;
	if (modseq)
		rc = imapsrv_search_enable_condstore(s);
	unsigned ret = sr->ret & ~(unsigned)IMAP_SR_SAVE;
	if (save)
		save_result(s->sel, sr->ret, &res);
	/* RFC 4731 §3.1: RETURN () means ALL; RFC 9051 §6.4.4: rev2 always
	 * answers ESEARCH. RFC 5182 §2.4: RETURN (SAVE) alone answers nothing. */
	if (rc == 0 && (sr->esearch || s->out.rev2)) {
		if (ret == 0 && !save)
			ret = IMAP_SR_ALL;
		if (ret != 0)
			rc = write_esearch(s, cmd, ret, &res, modseq, max_modseq);
	} else if (rc == 0) {
		rc = imapsrv_write_search(s, "SEARCH", &res, cmd->uid, modseq, max_modseq);
	}
	store_uids_free(&res);
	imapsrv_result_set(r, "OK", NULL, "%sSEARCH completed", cmd->uid ? "UID " : "");
	return rc;
}
