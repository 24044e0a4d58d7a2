/*
 * fts.c: full-text index (SQLite FTS5) over the subject, the addresses and
 * the body text that the caller gives at delivery; rowid = content id, so
 * copies share an entry.
 *
 * Size is what decides the design: the database must stay a small fraction
 * of the messages. So both indexes are contentless (no copy of the text)
 * and keep no positions (detail=none): they answer "which messages hold
 * these tokens", which is what a search asks of them.
 *
 * fts_addresses splits words (unicode61). fts_body keeps trigrams (every
 * three consecutive characters, case folded): IMAP SEARCH asks for
 * substrings (RFC 9051 §6.4.4: "sdfghjk" finds "asdfghjkl"), and a message
 * holding a substring holds each of its trigrams, so the messages holding
 * all of them are a superset of the answer, which the caller then checks.
 * Positions would make that set exact (a phrase of trigrams) but cost more
 * than the text itself (measured: 2.9 bytes of index per byte of text with
 * detail=full, 0.37 with detail=none), so the candidates are checked instead.
 * A message is vouched for by the body index only if its body text was
 * given whole (content.body_indexed, and a file small enough that no caller
 * cut the text: STORE_FTS_WHOLE_FILE_MAX); every other message is always a
 * candidate.
 *
 * Words (store_search) have no phrases: a user term is split into words,
 * and the message must hold every word of every term. The subject, already
 * stored in content.subject, is not indexed again: it is searched there
 * for the term's words in order, as substrings (ASCII letters ignoring
 * case, as LIKE does).
 *
 * Queries are built only from quoted strings: every word or trigram becomes
 * an FTS5 string ("..." with " doubled), so no user byte is ever FTS5
 * syntax, and input such as NEAR(, *, - or a lone quote is searched for as
 * text. Words are split where the address index's tokenizer (unicode61)
 * splits ASCII text, at every ASCII character that is not a letter or
 * digit; a term whose non-ASCII punctuation the tokenizer would still split
 * is refused with a clear error rather than answered wrongly.
 *
 * SQLite 3.40 cannot delete a row from a contentless index without the
 * original text, so an expunged message's entries stay: content ids are
 * never reused and searches join with the message table, so they never
 * match; they only take a little room.
 */
#include "store/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Longest FTS5 query built: terms are bounded in number, and each in size. */
#define FTS_QUERY_MAX 65536
/* Longest SQL statement built for a search (placeholders only, no user text). */
#define FTS_SQL_MAX 8192

/* Indexed fields, in the order of enum store_search_field after SUBJECT. */
static const char *const index_tables[] = {"fts_addresses", "fts_body"};
/* Literals: db_prepare caches statements by the address of their text. */
static const char *const index_inserts[] = {
	"INSERT INTO fts_addresses (rowid, text) VALUES (?, ?)",
	"INSERT INTO fts_body (rowid, text) VALUES (?, ?)",
};

static int index_one(struct store_account *a, const char *sql, int64_t content_id,
                     const char *text, struct error *err)
{
	if (text == NULL || text[0] == '\0')
		return 0;
	sqlite3_stmt *st;
	if (db_prepare(a, sql, &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, content_id);
	db_bind_text(st, 2, text);
	return db_run_stmt(a, st, err);
}

static int fts_index_body(struct store_account *a, int64_t content_id, const char *body,
                          struct error *err)
{
	if (body == NULL)
		return 0;  /* not vouched for: always a candidate */
	if (index_one(a, index_inserts[1], content_id, body, err) != 0)
		return -1;
	return db_run(a, err, "UPDATE content SET body_indexed = 1 WHERE id = ?", 1, content_id);
}

int fts_index(struct store_account *a, int64_t content_id, const struct store_delivery *d,
              struct error *err)
{
	const char *addresses = d->fts_addresses != NULL ? d->fts_addresses : d->from;
	if (index_one(a, index_inserts[0], content_id, addresses, err) != 0)
		return -1;
	return fts_index_body(a, content_id, d->fts_body, err);
}

int fts_delete(struct store_account *a, int64_t content_id, struct error *err)
{
	(void)a, (void)content_id, (void)err;
	return 0;  /* see the top of this file */
}

/* The length of the valid UTF-8 sequence at p (RFC 3629 §4: shortest form,
 * no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	if (len == 0 || p[0] > 0xf4 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return len;
}

/* Most trigrams asked of the index for one string: any subset of a
 * string's trigrams still gives a superset of its matches. */
#define FTS_TRIGRAMS_MAX 48

/* Appends to q the distinct trigrams of text[0, n) as quoted strings joined
 * by AND (at most FTS_TRIGRAMS_MAX). Returns how many, 0 if text has fewer
 * than three characters, -2 if it is not valid UTF-8, -1 if q is full. (A
 * trigram taken for a repeat wrongly is only left out, which still gives a
 * superset.) */
static int append_trigrams(struct buf *q, const char *text, size_t n)
{
	const unsigned char *p = (const unsigned char *)text;
	for (size_t off = 0, len; off < n; off += len)
		if ((len = utf8_char(p + off, n - off)) == 0)
			return -2;
	size_t q0 = q->len;
	int count = 0;
	for (size_t a = 0; a < n && count < FTS_TRIGRAMS_MAX; a += utf8_char(p + a, n - a)) {
		size_t b = a;
		int chars = 0;
		for (; chars < 3 && b < n; chars++)
			b += utf8_char(p + b, n - b);
		if (chars < 3)
			break;
		char quoted[2 + 2 * 12];
		size_t ql = 0;
		quoted[ql++] = '"';
		for (size_t k = a; k < b; k++) {
			if (p[k] == '"')
				quoted[ql++] = '"';
			quoted[ql++] = (char)p[k];
		}
		quoted[ql++] = '"';
		if (q->len > q0 && memmem(q->data + q0, q->len - q0, quoted, ql) != NULL)
			continue;
		if ((count > 0 && buf_append_str(q, " AND ") != 0) || buf_append(q, quoted, ql) != 0)
			return -1;
		count++;
	}
	return count;
}

static bool word_byte(unsigned char c)
{
	return c >= 0x80 || isalnum(c);
}

/* Appends the words of term to q as quoted strings joined by AND. Returns
 * the number of words, or -1 if q is full. */
static int append_words(struct buf *q, const char *term)
{
	int words = 0;
	const unsigned char *p = (const unsigned char *)term;
	while (*p != '\0') {
		while (*p != '\0' && !word_byte(*p))
			p++;
		if (*p == '\0')
			break;
		if ((words > 0 && buf_append_str(q, " AND ") != 0) || buf_append_char(q, '"') != 0)
			return -1;
		for (; word_byte(*p); p++)
			if (buf_append_char(q, (char)*p) != 0)
				return -1;
		if (buf_append_char(q, '"') != 0)
			return -1;
		words++;
	}
	return words;
}

/* Appends the words of term to q as a LIKE pattern, %word1%word2%: the
 * words in that order anywhere (LIKE's % and _ cannot occur in words). */
static int append_like(struct buf *q, const char *term)
{
	int r = buf_append_char(q, '%');
	for (const unsigned char *p = (const unsigned char *)term; *p != '\0' && r == 0; p++) {
		if (!word_byte(*p))
			continue;
		for (; word_byte(*p) && r == 0; p++)
			r = buf_append_char(q, (char)*p);
		if (r == 0)
			r = buf_append_char(q, '%');
		if (*p == '\0')
			break;
	}
	return r == 0 ? buf_append_char(q, '\0') : -1;
}

/* Appends the words of term to q as the AND of their trigrams (the body
 * index); words it cannot look up (fewer than three characters, not UTF-8)
 * are left out. Returns how many trigrams, or -1 if q is full. */
static int append_body_words(struct buf *q, const char *term)
{
	int total = 0;
	const unsigned char *p = (const unsigned char *)term;
	while (*p != '\0') {
		while (*p != '\0' && !word_byte(*p))
			p++;
		const unsigned char *w = p;
		while (word_byte(*p))
			p++;
		if (p == w)
			break;
		size_t before = q->len;
		if (total > 0 && buf_append_str(q, " AND ") != 0)
			return -1;
		int r = append_trigrams(q, (const char *)w, (size_t)(p - w));
		if (r == -1)
			return -1;
		if (r <= 0)
			buf_truncate(q, before);
		else
			total += r;
	}
	return total;
}

/* Per term with words, in q: a MATCH expression of its words at
 * offsets[3i], a LIKE pattern at offsets[3i+1] and a MATCH expression of
 * their trigrams at offsets[3i+2] ("" if none); *n_r gets how many terms. */
static int build_terms(const char *const *terms, size_t n, struct buf *q, size_t *offsets,
                       size_t *n_r, struct error *err)
{
	if (n == 0 || n > STORE_SEARCH_TERMS_MAX)
		return error_set(err, ERR_INVALID, "between 1 and %d search terms",
		                 STORE_SEARCH_TERMS_MAX);
	*n_r = 0;
	for (size_t i = 0; i < n; i++) {
		size_t start = q->len;
		int words = append_words(q, terms[i]);
		if (words < 0 || buf_append_char(q, '\0') != 0)
			return error_set(err, ERR_INVALID, "search terms too long");
		if (words == 0) {
			buf_truncate(q, start);
			continue;
		}
		size_t *o = offsets + 3 * *n_r;
		o[0] = start;
		o[1] = q->len;
		if (append_like(q, terms[i]) != 0)
			return error_set(err, ERR_INVALID, "search terms too long");
		o[2] = q->len;
		if (append_body_words(q, terms[i]) < 0 || buf_append_char(q, '\0') != 0)
			return error_set(err, ERR_INVALID, "search terms too long");
		(*n_r)++;
	}
	if (*n_r == 0)
		return error_set(err, ERR_INVALID, "empty search terms");
	return 0;
}

/* The subquery giving the content ids where one term matches in field: its
 * words (parameter param) in the address index, its text (param + 1) in the
 * subject, its trigrams (param + 2) in the body index when it has any. */
static int append_term_sql(struct buf *sql, enum store_search_field field, size_t param,
                           bool body)
{
	int r = buf_append_str(sql, " AND m.content_id IN (");
	if (field == STORE_SEARCH_ANY || field == STORE_SEARCH_SUBJECT)
		r = buf_appendf(sql, "SELECT id FROM content WHERE subject LIKE ?%zu", param + 1);
	for (size_t i = 0; i < 2 && r == 0; i++) {
		if (field != STORE_SEARCH_ANY && (size_t)field != i + STORE_SEARCH_ADDRESSES)
			continue;
		if (i == 1 && !body)
			continue;
		if (sql->data[sql->len - 1] != '(')
			r = buf_append_str(sql, " UNION ");
		if (r == 0)
			r = buf_appendf(sql, "SELECT rowid FROM %s WHERE %s MATCH ?%zu", index_tables[i],
			                index_tables[i], param + 2 * i);
	}
	/* a term the body index cannot look up, asked of the body alone */
	if (r == 0 && sql->data[sql->len - 1] == '(')
		r = buf_append_str(sql, "SELECT NULL WHERE 0");
	return r == 0 ? buf_append_char(sql, ')') : -1;
}

static int run_search(struct store_account *a, const char *sql, int64_t mbox, const char *q,
                      const size_t *offsets, size_t nterms, struct store_uids *out,
                      struct error *err)
{
	sqlite3_stmt *st;
	if (db_prepare_uncached(a, sql, &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, mbox);
	for (size_t i = 0; i < 3 * nterms; i++)
		sqlite3_bind_text(st, (int)i + 2, q + offsets[i], -1, SQLITE_STATIC);
	int r;
	while ((r = db_step(a, st, err)) == 1)
		uids_push(out, (uint32_t)sqlite3_column_int64(st, 0));
	db_finish(a, st);
	if (r < 0 && strstr(err->msg, "phrase queries are not supported") != NULL)
		error_set(err, ERR_INVALID, "a search term holds punctuation inside a word; "
		          "search for its parts separately");
	return r;
}

int store_search(struct store_account *a, int64_t mbox, enum store_search_field field,
                 const char *const *terms, size_t nterms, struct store_uids *out,
                 struct error *err)
{
	if ((unsigned)field > STORE_SEARCH_BODY)
		return error_set(err, ERR_INVALID, "unknown search field");
	struct buf q, sql;
	size_t offsets[3 * STORE_SEARCH_TERMS_MAX], n = 0;
	buf_init(&q, FTS_QUERY_MAX);
	buf_init(&sql, FTS_SQL_MAX);
	int r = build_terms(terms, nterms, &q, offsets, &n, err);
	if (r == 0)
		r = buf_append_str(&sql, "SELECT m.uid FROM message m WHERE m.mailbox_id = ?1");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = append_term_sql(&sql, field, 3 * i + 2, q.data[offsets[3 * i + 2]] != '\0');
	if (r == 0)
		r = buf_append_str(&sql, " ORDER BY m.uid");
	size_t n0 = out->n;
	if (r == 0) {
		store_lock(a);
		r = run_search(a, sql.data, mbox, q.data, offsets, n, out, err);
		store_unlock(a);
	}
	if (r != 0)
		out->n = n0;
	buf_free(&q);
	buf_free(&sql);
	return r;
}

int store_search_substring(struct store_account *a, int64_t mbox, const char *text,
                           struct store_uids *out, struct error *err)
{
	struct buf q;
	buf_init(&q, FTS_QUERY_MAX);
	int n = append_trigrams(&q, text, strlen(text));
	if (n < 0 || buf_append_char(&q, '\0') != 0) {
		buf_free(&q);
		return error_set(err, ERR_INVALID, n == -2 ? "search text is not UTF-8"
		                 : "search text too long");
	}
	if (n == 0) {
		buf_free(&q);
		return error_set(err, ERR_INVALID, "fewer than %d characters to look up",
		                 STORE_FTS_SUBSTRING_MIN);
	}
	size_t n0 = out->n;
	sqlite3_stmt *st;
	store_lock(a);
	int r = db_prepare(a, "SELECT m.uid FROM message m JOIN content c ON c.id = m.content_id"
	                   " WHERE m.mailbox_id = ?1 AND (c.body_indexed = 0 OR c.file_size > ?2"
	                   " OR m.content_id IN (SELECT rowid FROM fts_body WHERE fts_body MATCH ?3))"
	                   " ORDER BY m.uid", &st, err);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, STORE_FTS_WHOLE_FILE_MAX);
		sqlite3_bind_text(st, 3, q.data, -1, SQLITE_STATIC);
		while ((r = db_step(a, st, err)) == 1)
			uids_push(out, (uint32_t)sqlite3_column_int64(st, 0));
		db_finish(a, st);
	}
	store_unlock(a);
	if (r != 0)
		out->n = n0;
	buf_free(&q);
	return r < 0 ? -1 : 0;
}
