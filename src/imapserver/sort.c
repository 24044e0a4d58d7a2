/*
 * sort.c: SORT and UID SORT (RFC 5256 §3), with DISPLAYFROM and DISPLAYTO
 * (RFC 5957), and the base subject of RFC 5256 §2.1 that THREAD shares.
 *
 * The matches come from imapsrv_search_eval; each gets one compact record
 * of the keys the criteria need, with strings cut to SORT_KEY_MAX bytes:
 * subject and Date: come from the store, addresses from the header block
 * (read only when an address key is asked for). Nothing else of a message
 * is held, so memory grows with the number of matches, not their size.
 *
 * Comparisons (RFC 5256 §3): subjects and addr-mailbox local parts with
 * i;ascii-casemap (ASCII letters upper-cased), display names (RFC 5957 §3)
 * with the Unicode case folding search.c does, then upper-cased ASCII.
 * Equal keys fall back to the next criterion, then to the sequence number.
 */
#include "imapserver/internal.h"

#include "core/arena.h"
#include "message/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest string key kept per message. */
#define SORT_KEY_MAX 256

/* ---- base subject (RFC 5256 §2.1) ---- */

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Length of a subj-blob at p ("[" *BLOBCHAR "]" *WSP), 0 if none. */
static size_t blob_len(const char *p)
{
	if (*p != '[')
		return 0;
	size_t i = 1;
	while (p[i] != '\0' && p[i] != '[' && p[i] != ']')
		i++;
	if (p[i] != ']')
		return 0;
	i++;
	while (wsp(p[i]))
		i++;
	return i;
}

/* Length of a subj-refwd at p (("re" / "fw" ["d"]) *WSP [subj-blob] ":"), 0 if none. */
static size_t refwd_len(const char *p)
{
	size_t i;
	if (strncasecmp(p, "re", 2) == 0)
		i = 2;
	else if (strncasecmp(p, "fwd", 3) == 0)
		i = 3;
	else if (strncasecmp(p, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (wsp(p[i]))
		i++;
	i += blob_len(p + i);
	return p[i] == ':' ? i + 1 : 0;
}

/* Step 3: removes subj-leader ((*subj-blob subj-refwd) / WSP) prefixes. */
static char *strip_leaders(char *s, bool *reply)
{
	for (;;) {
		if (wsp(*s)) {
			s++;
			continue;
		}
		size_t i = 0, b;
		while ((b = blob_len(s + i)) > 0)
			i += b;
		size_t r = refwd_len(s + i);
		if (r == 0)
			return s;
		s += i + r;
		*reply = true;
	}
}

/* Step 2: removes subj-trailer ("(fwd)" / WSP) suffixes. */
static void strip_trailers(char *s, bool *reply)
{
	size_t n = strlen(s);
	for (;;) {
		if (n > 0 && wsp(s[n - 1])) {
			n--;
		} else if (n >= 5 && strncasecmp(s + n - 5, "(fwd)", 5) == 0) {
			n -= 5;
			*reply = true;
		} else {
			break;
		}
	}
	s[n] = '\0';
}

const char *imapsrv_base_subject(struct arena *a, const char *subject, bool *reply_r)
{
	bool reply = false;
	if (subject == NULL)
		subject = "";
	/* (1) the subject is decoded already; tabs and line breaks become
	 * spaces, runs of spaces one space */
	char *s = arena_alloc(a, strlen(subject) + 1);
	size_t n = 0;
	for (const char *p = subject; *p != '\0'; p++) {
		char c = *p == '\t' || *p == '\r' || *p == '\n' ? ' ' : *p;
		if (c == ' ' && n > 0 && s[n - 1] == ' ')
			continue;
		s[n++] = c;
	}
	s[n] = '\0';
	for (;;) {
		strip_trailers(s, &reply);                  /* (2) */
		for (;;) {                                  /* (5): (3) and (4) until stable */
			char *before = s;
			s = strip_leaders(s, &reply);       /* (3) */
			size_t b = blob_len(s);             /* (4) */
			if (b > 0 && s[b] != '\0')
				s += b;
			if (s == before)
				break;
		}
		/* (6) "[fwd:" ... "]" */
		size_t len = strlen(s);
		if (len >= 6 && strncasecmp(s, "[fwd:", 5) == 0 && s[len - 1] == ']') {
			s[len - 1] = '\0';
			s += 5;
			reply = true;
			continue;
		}
		break;
	}
	if (reply_r != NULL)
		*reply_r = reply;
	return s;
}

/* ---- sort keys ---- */

enum sort_key {
	KEY_ARRIVAL, KEY_CC, KEY_DATE, KEY_FROM, KEY_SIZE, KEY_SUBJECT, KEY_TO,
	KEY_DISPLAYFROM, KEY_DISPLAYTO,
};

static const char *const key_names[] = {
	"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO",
};

/* String slots of a record, by key. */
enum { STR_CC, STR_FROM, STR_SUBJECT, STR_TO, STR_DISPLAYFROM, STR_DISPLAYTO, STR_N };

static int str_slot(enum sort_key k)
{
	switch (k) {
	case KEY_CC: return STR_CC;
	case KEY_FROM: return STR_FROM;
	case KEY_SUBJECT: return STR_SUBJECT;
	case KEY_TO: return STR_TO;
	case KEY_DISPLAYFROM: return STR_DISPLAYFROM;
	case KEY_DISPLAYTO: return STR_DISPLAYTO;
	default: return -1;
	}
}

struct sort_rec {
	uint32_t uid;
	uint32_t seq;
	uint64_t size;
	int64_t arrival;
	int64_t date;
	const char *str[STR_N];
};

struct sort_crit {
	enum sort_key key;
	bool reverse;
};

struct sorter {
	struct sort_crit *crit;
	size_t n_crit;
};

/* qsort has no context argument: the criteria of the sort under way. One
 * SORT runs at a time per thread. */
static _Thread_local const struct sorter *current;

static int cmp_num(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int rec_cmp(const void *pa, const void *pb)
{
	const struct sort_rec *a = pa, *b = pb;
	for (size_t i = 0; i < current->n_crit; i++) {
		const struct sort_crit *c = &current->crit[i];
		int r;
		switch (c->key) {
		case KEY_ARRIVAL: r = cmp_num(a->arrival, b->arrival); break;
		case KEY_DATE: r = cmp_num(a->date, b->date); break;
		case KEY_SIZE: r = cmp_num((int64_t)a->size, (int64_t)b->size); break;
		default: {
			int slot = str_slot(c->key);
			r = strcmp(a->str[slot], b->str[slot]);
			r = r < 0 ? -1 : r > 0;
		}
		}
		if (r != 0)
			return c->reverse ? -r : r;
	}
	return cmp_num(a->seq, b->seq);
}

/* s upper-cased for ASCII (i;ascii-casemap), cut to SORT_KEY_MAX, in a. */
static const char *ascii_key(struct arena *a, const char *s)
{
	if (s == NULL)
		return "";
	size_t n = strnlen(s, SORT_KEY_MAX);
	char *k = arena_strndup(a, s, n);
	for (size_t i = 0; i < n; i++)
		if (k[i] >= 'a' && k[i] <= 'z')
			k[i] = (char)(k[i] - 32);
	return k;
}

/* The base letters of U+00E0..U+00FF ('_': none), which RFC 5051's
 * decomposition puts before the accent. */
static const char latin1_base[] = "aaaaaa_ceeeeiiii_nooooo__uuuuy_y";

/* The length of s cut to at most max bytes without splitting a UTF-8
 * sequence (folding never lengthens, so the folded prefix fits a key). */
static size_t utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	while (n > 0 && (s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* s for i;unicode-casemap (RFC 5957 §3, RFC 5051): case-folded as far as
 * tern folds, Latin-1 letters preceded by their base letter so that "É"
 * sorts with "E", then upper-cased. */
static const char *unicode_key(struct arena *a, const char *s)
{
	if (s == NULL)
		return "";
	struct buf f, b;
	buf_init(&f, SORT_KEY_MAX);
	buf_init(&b, SORT_KEY_MAX);
	imapsrv_casefold(s, utf8_prefix(s, SORT_KEY_MAX), &f);
	const unsigned char *p = (const unsigned char *)f.data;
	for (size_t i = 0; i < f.len; i++) {
		if (p[i] == 0xc3 && i + 1 < f.len && p[i + 1] >= 0xa0 && p[i + 1] <= 0xbf &&
		    latin1_base[p[i + 1] - 0xa0] != '_')
			buf_append_char(&b, latin1_base[p[i + 1] - 0xa0]);
		buf_append_char(&b, (char)p[i]);
	}
	const char *k = ascii_key(a, b.data);
	buf_free(&f);
	buf_free(&b);
	return k;
}

/* The first address of an address header, as ENVELOPE lists it (RFC
 * 5256 §3 compares the addr-mailbox of the first address: for a group,
 * its start marker, whose addr-mailbox is the group name), or NULL. */
static const struct message_address *first_address(struct arena *a,
                                                   const struct message_headers *h,
                                                   const char *field)
{
	const char *v = message_header_get(a, h, field);
	if (v == NULL)
		return NULL;
	struct message_address_list list;
	message_address_parse(a, v, strlen(v), MESSAGE_ADDRESS_PLAIN, &list);
	for (size_t i = 0; i < list.count; i++) {
		const struct message_address *ad = &list.items[i];
		if (ad->kind == MESSAGE_ADDRESS_GROUP_START ||
		    (ad->kind == MESSAGE_ADDRESS_MAILBOX && ad->local != NULL))
			return ad;
	}
	return NULL;
}

/* The addr-mailbox of an address: the local part, or a group's name. */
static const char *mailbox_of(const struct message_address *ad)
{
	if (ad == NULL)
		return NULL;
	return ad->kind == MESSAGE_ADDRESS_GROUP_START ? ad->name : ad->local;
}

/* RFC 5957 §3: the display name if there is a non-empty one, else the
 * mailbox as local@domain (RFC 5256's addr-mailbox "@" addr-host). */
static const char *display_of(const struct message_address *ad)
{
	if (ad == NULL)
		return NULL;
	if (ad->name != NULL && ad->name[0] != '\0')
		return ad->name;
	return ad->address != NULL ? ad->address : ad->local;
}

struct collect {
	struct imapsrv_session *s;
	struct arena *keys;          /* the records' strings */
	struct arena *tmp;           /* per message */
	unsigned need;               /* bits by enum sort_key */
};

static int fill_rec(struct collect *cl, uint32_t uid, struct sort_rec *rec, struct error *e)
{
	struct store_msgdetail d;
	if (store_msg_get(cl->s->sel->acct, cl->s->sel->mailbox_id, uid, cl->tmp, &d, e) != 0)
		return -1;
	rec->uid = uid;
	rec->seq = imapsrv_seq_of(cl->s->sel, uid);
	rec->size = d.info.size;
	rec->arrival = d.info.received;
	/* RFC 5256 §3 DATE: the sent date, or INTERNALDATE when there is none */
	rec->date = d.date != 0 ? d.date : d.info.received;
	for (int i = 0; i < STR_N; i++)
		rec->str[i] = "";
	if (cl->need & (1u << KEY_SUBJECT))
		rec->str[STR_SUBJECT] =
			ascii_key(cl->keys, imapsrv_base_subject(cl->tmp, d.subject, NULL));
	unsigned addr_keys = (1u << KEY_FROM) | (1u << KEY_TO) | (1u << KEY_CC) |
	                     (1u << KEY_DISPLAYFROM) | (1u << KEY_DISPLAYTO);
	if (!(cl->need & addr_keys))
		return 0;
	struct message_headers h;
	if (imapsrv_msg_header(cl->s, uid, cl->tmp, &h, e) != 0)
		return -1;
	const struct message_address *from = first_address(cl->tmp, &h, "From");
	const struct message_address *to = first_address(cl->tmp, &h, "To");
	const struct message_address *cc = first_address(cl->tmp, &h, "Cc");
	/* RFC 5256 §3: FROM, TO, CC compare the addr-mailbox */
	rec->str[STR_FROM] = ascii_key(cl->keys, mailbox_of(from));
	rec->str[STR_TO] = ascii_key(cl->keys, mailbox_of(to));
	rec->str[STR_CC] = ascii_key(cl->keys, mailbox_of(cc));
	if (cl->need & (1u << KEY_DISPLAYFROM))
		rec->str[STR_DISPLAYFROM] = unicode_key(cl->keys, display_of(from));
	if (cl->need & (1u << KEY_DISPLAYTO))
		rec->str[STR_DISPLAYTO] = unicode_key(cl->keys, display_of(to));
	return 0;
}

static int parse_criteria(const struct imap_command *cmd, struct arena *a, struct sorter *so,
                          struct imapsrv_result *r)
{
	so->crit = arena_alloc(a, (cmd->n_sort ? cmd->n_sort : 1) * sizeof(*so->crit));
	so->n_crit = 0;
	for (size_t i = 0; i < cmd->n_sort; i++) {
		size_t k = 0;
		while (k < sizeof(key_names) / sizeof(key_names[0]) &&
		       strcasecmp(key_names[k], cmd->sort[i].key) != 0)
			k++;
		if (k == sizeof(key_names) / sizeof(key_names[0])) {
			imapsrv_result_set(r, "BAD", NULL, "unknown sort key %s", cmd->sort[i].key);
			return -1;
		}
		so->crit[so->n_crit++] = (struct sort_crit){(enum sort_key)k, cmd->sort[i].reverse};
	}
	if (so->n_crit == 0) {
		imapsrv_result_set(r, "BAD", NULL, "no sort criteria");
		return -1;
	}
	return 0;
}

/* Sorts the UIDs in res (ascending on entry) by the criteria, in place. */
static int sort_uids(struct imapsrv_session *s, const struct sorter *so, struct store_uids *res,
                     struct error *e)
{
	struct collect cl = {.s = s};
	for (size_t i = 0; i < so->n_crit; i++)
		cl.need |= 1u << so->crit[i].key;
	struct sort_rec *recs = calloc(res->n ? res->n : 1, sizeof(*recs));
	if (recs == NULL)
		return error_set(e, ERR_LIMIT, "out of memory");
	cl.keys = arena_new(65536, ARENA_PLAIN);
	cl.tmp = arena_new(16384, ARENA_PLAIN);
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < res->n; i++) {
		if (fill_rec(&cl, res->v[i], &recs[n], e) == 0) {
			n++;
		} else if (e->kind != ERR_NOTFOUND) {
			r = -1;  /* an expunged message is simply left out */
			break;
		}
		arena_reset(cl.tmp);
	}
	if (r == 0) {
		current = so;
		qsort(recs, n, sizeof(*recs), rec_cmp);
		current = NULL;
		for (size_t i = 0; i < n; i++)
			res->v[i] = recs[i].uid;
		res->n = n;
	}
	free(recs);
	arena_free(&cl.keys);
	arena_free(&cl.tmp);
	return r;
}

int imapsrv_cmd_sort(struct imapsrv_session *s, const struct imap_command *cmd,
                     struct imapsrv_result *r)
{
	if (s->sel == NULL) {
		imapsrv_result_set(r, "BAD", NULL, "no mailbox selected");
		return 0;
	}
	struct sorter so;
	if (parse_criteria(cmd, s->cmd_arena, &so, r) != 0 ||
	    imapsrv_check_charset(&cmd->search, r) != 0)
		return 0;
	struct store_uids res = {0};
	uint64_t max_modseq = 0;
	struct error e;
	if (imapsrv_search_eval(s, cmd->search.key, &res, &max_modseq, &e) != 0 ||
	    sort_uids(s, &so, &res, &e) != 0) {
		store_uids_free(&res);
		imapsrv_search_failed(&e, r);
		return 0;
	}
	bool modseq = imapsrv_search_uses_modseq(cmd->search.key);
	int rc = modseq ? imapsrv_search_enable_condstore(s) : 0;
	/* RFC 5256 §4: * SORT n n n; RFC 7162 §3.1.5 adds (MODSEQ m) */
	if (rc == 0)
		rc = imapsrv_write_search(s, "SORT", &res, cmd->uid, modseq, max_modseq);
	store_uids_free(&res);
	imapsrv_result_set(r, "OK", NULL, "%sSORT completed", cmd->uid ? "UID " : "");
	return rc;
}
