/*
 * fts.c: full-text index (SQLite FTS5) over the subject, the addresses and
 * the body text that the caller gives at delivery; rowid = content id, so
 * copies share an entry.
 *
 * Size is what decides the design: the database must stay a small fraction
 * of the messages. So there are two indexes, addresses and body (a column
 * filter needs positions, which cost twice the room), each contentless
 * (no copy of the text) and with detail=none (no positions): they answer
 * "which messages hold these words", which is what a search asks of them.
 * Phrases are therefore not supported: a user term is split into words,
 * and the message must hold every word of every term. The subject, already
 * stored in content.subject, is not indexed again: it is searched there
 * for the term's words in order, as substrings (ASCII letters ignoring
 * case, as LIKE does).
 *
 * Queries are built only from quoted strings: every word becomes an FTS5
 * string ("..." with " doubled), so no user byte is ever FTS5 syntax, and
 * input such as NEAR(, *, - or a lone quote is searched for as text. Words
 * are split where the index's tokenizer (unicode61) splits ASCII text, at
 * every ASCII character that is not a letter or digit; a term whose
 * non-ASCII punctuation the tokenizer would still split is refused with a
 * clear error rather than answered wrongly.
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

int fts_index(struct store_account *a, int64_t content_id, const struct store_delivery *d,
              struct error *err)
{
	const char *texts[] = {d->fts_addresses != NULL ? d->fts_addresses : d->from, d->fts_body};
	for (size_t i = 0; i < 2; i++)
		if (index_one(a, index_inserts[i], content_id, texts[i], err) != 0)
			return -1;
	return 0;
}

int fts_delete(struct store_account *a, int64_t content_id, struct error *err)
{
	(void)a, (void)content_id, (void)err;
	return 0;  /* see the top of this file */
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

/* Per term with words: a MATCH expression at offsets[2i] and a LIKE pattern
 * at offsets[2i+1] in q; *n_r gets how many terms. */
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
		offsets[2 * *n_r] = start;
		offsets[2 * *n_r + 1] = q->len;
		if (append_like(q, terms[i]) != 0)
			return error_set(err, ERR_INVALID, "search terms too long");
		(*n_r)++;
	}
	if (*n_r == 0)
		return error_set(err, ERR_INVALID, "empty search terms");
	return 0;
}

/* The subquery giving the content ids where one term matches in field: its
 * words (parameter param) in an index, its text (param + 1) in the subject. */
static int append_term_sql(struct buf *sql, enum store_search_field field, size_t param)
{
	int r = buf_append_str(sql, " AND m.content_id IN (");
	if (field == STORE_SEARCH_ANY || field == STORE_SEARCH_SUBJECT)
		r = buf_appendf(sql, "SELECT id FROM content WHERE subject LIKE ?%zu", param + 1);
	for (size_t i = 0; i < 2 && r == 0; i++) {
		if (field != STORE_SEARCH_ANY && (size_t)field != i + STORE_SEARCH_ADDRESSES)
			continue;
		if (sql->data[sql->len - 1] != '(')
			r = buf_append_str(sql, " UNION ");
		if (r == 0)
			r = buf_appendf(sql, "SELECT rowid FROM %s WHERE %s MATCH ?%zu", index_tables[i],
			                index_tables[i], param);
	}
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
	for (size_t i = 0; i < 2 * nterms; i++)
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
	size_t offsets[2 * STORE_SEARCH_TERMS_MAX], n = 0;
	buf_init(&q, FTS_QUERY_MAX);
	buf_init(&sql, FTS_SQL_MAX);
	int r = build_terms(terms, nterms, &q, offsets, &n, err);
	if (r == 0)
		r = buf_append_str(&sql, "SELECT m.uid FROM message m WHERE m.mailbox_id = ?1");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = append_term_sql(&sql, field, 2 * i + 2);
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
