/*
 * dmarc.c: DMARC aggregate report documents (RFC 7489 Appendix C, and the
 * DMARCbis additions: np, the urn:ietf:params:xml:ns:dmarc-2.0 namespace),
 * read with libxml2's streaming reader (xmlTextReader): memory stays that of
 * the result, whatever the document's size.
 *
 * Safety: XML_PARSE_NONET (no fetching), no XML_PARSE_NOENT (entities are
 * never substituted), no XML_PARSE_DTDLOAD/DTDATTR/DTDVALID, no
 * XML_PARSE_HUGE (libxml2's own limits on names, text and depth apply). A
 * document holding "<!DOCTYPE" is refused before libxml2 sees it: reports
 * never have one, and it is the home of entity expansion attacks. Text is
 * collected from text and CDATA nodes only, so an entity reference could not
 * be expanded by us either. Elements are matched by local name; what the
 * schema does not name is skipped with its whole subtree.
 */
#include "reports/internal.h"

#include <libxml/xmlreader.h>
#include <pthread.h>
#include <string.h>

/* Longest element path kept ("record/auth_results/dkim/human_result"). */
#define DP_PATH_MAX 256

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

struct dp {
	struct arena *a;
	struct dmarc_report *out;
	struct error *err;
	bool failed;
	char path[DP_PATH_MAX];         /* of the current element, root excluded */
	size_t path_len[REPORTS_XML_DEPTH_MAX + 1];
	int depth;                      /* 1 = root */
	int skip_depth;                 /* > 0: inside an unknown subtree rooted there */
	int leaf_depth;                 /* > 0: collecting text of a leaf at that depth */
	struct buf text;
	bool text_long;
	size_t cap_records, cap_reasons, cap_dkim, cap_spf, cap_errors;
	bool seen_metadata, seen_policy, seen_range;
	struct dmarcrpt_record *rec;       /* the record being read */
	struct dmarc_reason *reason;
	struct dmarc_dkim_result *dkim;
	struct dmarc_spf_result *spf;
	bool rec_row, rec_count, rec_pe, rec_ids;
	const char *xml_error;          /* libxml2's first error */
};

static int dp_fail(struct dp *d, enum error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int dp_fail(struct dp *d, enum error_kind kind, const char *fmt, ...)
{
	if (d->failed)
		return -1;
	d->failed = true;
	va_list ap;
	va_start(ap, fmt);
	error_setv(d->err, kind, fmt, ap);
	va_end(ap);
	error_prefix(d->err, "DMARC report");
	return -1;
}

/* Containers: elements whose children we read. */
static const char *const containers[] = {
	"report_metadata",
	"report_metadata/date_range",
	"policy_published",
	"record",
	"record/row",
	"record/row/policy_evaluated",
	"record/row/policy_evaluated/reason",
	"record/identifiers",
	"record/auth_results",
	"record/auth_results/dkim",
	"record/auth_results/spf",
};

/* Leaves: elements whose text we keep. */
static const char *const leaves[] = {
	"version",
	"report_metadata/org_name",
	"report_metadata/email",
	"report_metadata/extra_contact_info",
	"report_metadata/report_id",
	"report_metadata/error",
	"report_metadata/date_range/begin",
	"report_metadata/date_range/end",
	"policy_published/domain",
	"policy_published/adkim",
	"policy_published/aspf",
	"policy_published/p",
	"policy_published/sp",
	"policy_published/np",
	"policy_published/pct",
	"policy_published/fo",
	"record/row/source_ip",
	"record/row/count",
	"record/row/policy_evaluated/disposition",
	"record/row/policy_evaluated/dkim",
	"record/row/policy_evaluated/spf",
	"record/row/policy_evaluated/reason/type",
	"record/row/policy_evaluated/reason/comment",
	"record/identifiers/header_from",
	"record/identifiers/envelope_from",
	"record/identifiers/envelope_to",
	"record/auth_results/dkim/domain",
	"record/auth_results/dkim/selector",
	"record/auth_results/dkim/result",
	"record/auth_results/dkim/human_result",
	"record/auth_results/spf/domain",
	"record/auth_results/spf/scope",
	"record/auth_results/spf/result",
};

static bool in_list(const char *const *list, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], path) == 0)
			return true;
	return false;
}

#define N_OF(x) (sizeof(x) / sizeof((x)[0]))

static size_t record_no(const struct dp *d)
{
	return d->out->n_records;
}

static int start_container(struct dp *d, const char *path)
{
	struct dmarc_report *o = d->out;
	if (strcmp(path, "report_metadata") == 0) {
		d->seen_metadata = true;
	} else if (strcmp(path, "report_metadata/date_range") == 0) {
		d->seen_range = true;
	} else if (strcmp(path, "policy_published") == 0) {
		d->seen_policy = true;
	} else if (strcmp(path, "record") == 0) {
		if (o->n_records >= REPORTS_RECORDS_MAX)
			return dp_fail(d, ERR_LIMIT, "more than %d records", REPORTS_RECORDS_MAX);
		d->rec = rpt_push(d->a, (void **)&o->records, &o->n_records, &d->cap_records,
		                  sizeof(*o->records));
		d->rec->count = -1;
		d->cap_reasons = d->cap_dkim = d->cap_spf = 0;
		d->rec_row = d->rec_count = d->rec_pe = d->rec_ids = false;
	} else if (strcmp(path, "record/row") == 0) {
		d->rec_row = true;
	} else if (strcmp(path, "record/row/policy_evaluated") == 0) {
		d->rec_pe = true;
	} else if (strcmp(path, "record/identifiers") == 0) {
		d->rec_ids = true;
	} else if (strcmp(path, "record/row/policy_evaluated/reason") == 0) {
		struct dmarcrpt_record *r = d->rec;
		if (r->n_reasons + r->n_dkim + r->n_spf >= REPORTS_ITEMS_MAX)
			return dp_fail(d, ERR_LIMIT, "record %zu: more than %d results and reasons",
			               record_no(d), REPORTS_ITEMS_MAX);
		d->reason = rpt_push(d->a, (void **)&r->reasons, &r->n_reasons, &d->cap_reasons,
		                     sizeof(*r->reasons));
	} else if (strcmp(path, "record/auth_results/dkim") == 0) {
		struct dmarcrpt_record *r = d->rec;
		if (r->n_reasons + r->n_dkim + r->n_spf >= REPORTS_ITEMS_MAX)
			return dp_fail(d, ERR_LIMIT, "record %zu: more than %d results and reasons",
			               record_no(d), REPORTS_ITEMS_MAX);
		d->dkim = rpt_push(d->a, (void **)&r->dkim_results, &r->n_dkim, &d->cap_dkim,
		                   sizeof(*r->dkim_results));
	} else if (strcmp(path, "record/auth_results/spf") == 0) {
		struct dmarcrpt_record *r = d->rec;
		if (r->n_reasons + r->n_dkim + r->n_spf >= REPORTS_ITEMS_MAX)
			return dp_fail(d, ERR_LIMIT, "record %zu: more than %d results and reasons",
			               record_no(d), REPORTS_ITEMS_MAX);
		d->spf = rpt_push(d->a, (void **)&r->spf_results, &r->n_spf, &d->cap_spf,
		                  sizeof(*r->spf_results));
	}
	return 0;
}

static int end_container(struct dp *d, const char *path)
{
	struct dmarc_report *o = d->out;
	if (strcmp(path, "report_metadata") == 0) {
		if (o->org_name == NULL)
			return dp_fail(d, ERR_INVALID, "report_metadata/org_name missing");
		if (o->email == NULL)
			return dp_fail(d, ERR_INVALID, "report_metadata/email missing");
		if (o->report_id == NULL)
			return dp_fail(d, ERR_INVALID, "report_metadata/report_id missing");
		if (!d->seen_range)
			return dp_fail(d, ERR_INVALID, "report_metadata/date_range missing");
	} else if (strcmp(path, "report_metadata/date_range") == 0) {
		if (o->begin < 0)
			return dp_fail(d, ERR_INVALID, "report_metadata/date_range/begin missing");
		if (o->end < 0)
			return dp_fail(d, ERR_INVALID, "report_metadata/date_range/end missing");
	} else if (strcmp(path, "policy_published") == 0) {
		if (o->domain == NULL)
			return dp_fail(d, ERR_INVALID, "policy_published/domain missing");
		if (o->p == NULL)
			return dp_fail(d, ERR_INVALID, "policy_published/p missing");
	} else if (strcmp(path, "record") == 0) {
		struct dmarcrpt_record *r = d->rec;
		size_t no = record_no(d);
		const char *missing = NULL;
		if (!d->rec_row)
			missing = "row";
		else if (r->source_ip == NULL)
			missing = "row/source_ip";
		else if (r->count < 0)
			missing = "row/count";
		else if (!d->rec_pe)
			missing = "row/policy_evaluated";
		else if (r->disposition == NULL)
			missing = "row/policy_evaluated/disposition";
		else if (r->dkim == NULL)
			missing = "row/policy_evaluated/dkim";
		else if (r->spf == NULL)
			missing = "row/policy_evaluated/spf";
		else if (!d->rec_ids)
			missing = "identifiers";
		else if (r->header_from == NULL)
			missing = "identifiers/header_from";
		if (missing != NULL)
			return dp_fail(d, ERR_INVALID, "record %zu: %s missing", no, missing);
		d->rec = NULL;
	} else if (strcmp(path, "record/auth_results/dkim") == 0) {
		if (d->dkim->domain == NULL)
			return dp_fail(d, ERR_INVALID, "record %zu: auth_results/dkim/domain missing",
			               record_no(d));
		if (d->dkim->result == NULL)
			return dp_fail(d, ERR_INVALID, "record %zu: auth_results/dkim/result missing",
			               record_no(d));
	} else if (strcmp(path, "record/auth_results/spf") == 0) {
		if (d->spf->domain == NULL)
			return dp_fail(d, ERR_INVALID, "record %zu: auth_results/spf/domain missing",
			               record_no(d));
		if (d->spf->result == NULL)
			return dp_fail(d, ERR_INVALID, "record %zu: auth_results/spf/result missing",
			               record_no(d));
	} else if (strcmp(path, "record/row/policy_evaluated/reason") == 0) {
		if (d->reason->type == NULL)
			return dp_fail(d, ERR_INVALID, "record %zu: policy_evaluated/reason/type missing",
			               record_no(d));
	}
	return 0;
}

/* The trimmed text of the leaf just ended, in the arena. */
static const char *leaf_text(struct dp *d)
{
	const char *s = d->text.data;
	size_t n = d->text.len;
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	                 s[n - 1] == '\n'))
		n--;
	return arena_strndup(d->a, s, n);
}

static int end_leaf(struct dp *d, const char *path)
{
	struct dmarc_report *o = d->out;
	if (d->text_long)
		return dp_fail(d, ERR_LIMIT, "%s: value longer than %d bytes", path,
		               REPORTS_VALUE_MAX);
	const char *v = leaf_text(d);
	struct dmarcrpt_record *r = d->rec;
	int64_t n;
#define IS(p) (strcmp(path, (p)) == 0)
	if (IS("version"))
		o->version = v;
	else if (IS("report_metadata/org_name"))
		o->org_name = v;
	else if (IS("report_metadata/email"))
		o->email = v;
	else if (IS("report_metadata/extra_contact_info"))
		o->extra_contact_info = v;
	else if (IS("report_metadata/report_id"))
		o->report_id = v;
	else if (IS("report_metadata/error")) {
		if (o->n_errors >= REPORTS_ITEMS_MAX)
			return dp_fail(d, ERR_LIMIT, "more than %d report_metadata/error",
			               REPORTS_ITEMS_MAX);
		const char **e = rpt_push(d->a, (void **)&o->errors, &o->n_errors, &d->cap_errors,
		                          sizeof(*o->errors));
		*e = v;
	} else if (IS("report_metadata/date_range/begin") || IS("report_metadata/date_range/end")) {
		if (rpt_parse_int(v, 0, INT64_MAX / 2, &n) != 0)
			return dp_fail(d, ERR_INVALID, "%s: not a time in seconds: \"%.64s\"", path, v);
		if (path[strlen(path) - 1] == 'n')
			o->begin = n;
		else
			o->end = n;
	} else if (IS("policy_published/domain"))
		o->domain = v;
	else if (IS("policy_published/adkim"))
		o->adkim = v;
	else if (IS("policy_published/aspf"))
		o->aspf = v;
	else if (IS("policy_published/p"))
		o->p = v;
	else if (IS("policy_published/sp"))
		o->sp = v;
	else if (IS("policy_published/np"))
		o->np = v;
	else if (IS("policy_published/fo"))
		o->fo = v;
	else if (IS("policy_published/pct")) {
		if (rpt_parse_int(v, 0, 100, &n) != 0)
			return dp_fail(d, ERR_INVALID, "policy_published/pct: not 0 to 100: \"%.64s\"",
			               v);
		o->pct = (int)n;
	} else if (IS("record/row/source_ip"))
		r->source_ip = v;
	else if (IS("record/row/count")) {
		if (rpt_parse_int(v, 0, REPORTS_COUNT_MAX, &n) != 0)
			return dp_fail(d, ERR_INVALID, "record %zu: row/count: not a count up to "
			               "2^53-1: \"%.64s\"", record_no(d), v);
		r->count = n;
	} else if (IS("record/row/policy_evaluated/disposition"))
		r->disposition = v;
	else if (IS("record/row/policy_evaluated/dkim"))
		r->dkim = v;
	else if (IS("record/row/policy_evaluated/spf"))
		r->spf = v;
	else if (IS("record/row/policy_evaluated/reason/type"))
		d->reason->type = v;
	else if (IS("record/row/policy_evaluated/reason/comment"))
		d->reason->comment = v;
	else if (IS("record/identifiers/header_from"))
		r->header_from = v;
	else if (IS("record/identifiers/envelope_from"))
		r->envelope_from = v;
	else if (IS("record/identifiers/envelope_to"))
		r->envelope_to = v;
	else if (IS("record/auth_results/dkim/domain"))
		d->dkim->domain = v;
	else if (IS("record/auth_results/dkim/selector"))
		d->dkim->selector = v;
	else if (IS("record/auth_results/dkim/result"))
		d->dkim->result = v;
	else if (IS("record/auth_results/dkim/human_result"))
		d->dkim->human_result = v;
	else if (IS("record/auth_results/spf/domain"))
		d->spf->domain = v;
	else if (IS("record/auth_results/spf/scope"))
		d->spf->scope = v;
	else if (IS("record/auth_results/spf/result"))
		d->spf->result = v;
#undef IS
	return 0;
}

/* An element starts (empty: it also ends here). */
static int element_start(struct dp *d, const char *name)
{
	d->depth++;
	if (d->depth > REPORTS_XML_DEPTH_MAX)
		return dp_fail(d, ERR_LIMIT, "elements nested deeper than %d", REPORTS_XML_DEPTH_MAX);
	if (d->depth == 1) {
		if (strcmp(name, "feedback") != 0)
			return dp_fail(d, ERR_INVALID, "root element is <%.64s>, not <feedback>", name);
		d->path[0] = '\0';
		d->path_len[1] = 0;
		return 0;
	}
	if (d->skip_depth > 0 || d->leaf_depth > 0) {
		/* inside an unknown subtree, or an element inside a leaf: skipped */
		return 0;
	}
	size_t base = d->path_len[d->depth - 1];
	size_t nl = strlen(name);
	if (base + 1 + nl >= DP_PATH_MAX) {
		d->skip_depth = d->depth;
	} else {
		size_t at = base;
		if (base > 0)
			d->path[at++] = '/';
		memcpy(d->path + at, name, nl + 1);
		d->path_len[d->depth] = at + nl;
		if (in_list(containers, N_OF(containers), d->path)) {
			if (start_container(d, d->path) != 0)
				return -1;
		} else if (in_list(leaves, N_OF(leaves), d->path)) {
			d->leaf_depth = d->depth;
			buf_reset(&d->text);
			d->text_long = false;
		} else {
			d->skip_depth = d->depth;
		}
	}
	return 0;  /* when empty, the caller calls element_end */
}

static int element_end(struct dp *d)
{
	int r = 0;
	bool restore = false;   /* the element owned a path segment */
	if (d->depth <= 0)
		return 0;
	if (d->depth == 1) {
		d->depth = 0;
		return 0;
	}
	if (d->skip_depth > 0) {
		if (d->skip_depth == d->depth) {
			d->skip_depth = 0;
			restore = true;
		}
	} else if (d->leaf_depth > 0) {
		if (d->leaf_depth == d->depth) {
			d->leaf_depth = 0;
			restore = true;
			r = end_leaf(d, d->path);
		}
	} else {
		restore = true;
		r = end_container(d, d->path);
	}
	d->depth--;
	if (restore)
		d->path[d->path_len[d->depth]] = '\0';
	return r;
}

static void text_add(struct dp *d, const char *s)
{
	if (d->leaf_depth == 0 || d->skip_depth > 0 || s == NULL || d->depth != d->leaf_depth)
		return;
	if (buf_append_str(&d->text, s) != 0)
		d->text_long = true;
}

static void reader_error(void *arg, const char *msg, xmlParserSeverities severity,
                         xmlTextReaderLocatorPtr loc)
{
	struct dp *d = arg;
	if (d->xml_error != NULL || (severity != XML_PARSER_SEVERITY_ERROR &&
	                             severity != XML_PARSER_SEVERITY_VALIDITY_ERROR))
		return;
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	d->xml_error = arena_printf(d->a, "line %d: %.*s", xmlTextReaderLocatorLineNumber(loc),
	                            (int)(n > 200 ? 200 : n), msg);
}

int reports_dmarc_parse(const char *xml, size_t len, struct arena *a, struct dmarc_report *out,
                        struct error *err)
{
	memset(out, 0, sizeof(*out));
	out->begin = out->end = -1;
	out->pct = -1;
	if (len > REPORTS_DOC_MAX)
		return error_set(err, ERR_LIMIT, "DMARC report: larger than %u bytes",
		                 REPORTS_DOC_MAX);
	if (memmem(xml, len, "<!DOCTYPE", 9) != NULL)
		return error_set(err, ERR_INVALID, "DMARC report: a DOCTYPE is not allowed");
	pthread_once(&xml_once, xml_init);

	struct dp d = {.a = a, .out = out, .err = err};
	buf_init(&d.text, REPORTS_VALUE_MAX);
	xmlTextReaderPtr rd = xmlReaderForMemory(xml, (int)len, NULL, NULL,
	                                         XML_PARSE_NONET | XML_PARSE_NOERROR |
	                                         XML_PARSE_NOWARNING);
	if (rd == NULL) {
		buf_free(&d.text);
		return error_set(err, ERR_INVALID, "DMARC report: cannot start the XML reader");
	}
	xmlTextReaderSetErrorHandler(rd, reader_error, &d);
	bool root_seen = false;
	int r;
	while (!d.failed && (r = xmlTextReaderRead(rd)) == 1) {
		int type = xmlTextReaderNodeType(rd);
		switch (type) {
		case XML_READER_TYPE_ELEMENT: {
			const char *name = (const char *)xmlTextReaderConstLocalName(rd);
			bool empty = xmlTextReaderIsEmptyElement(rd) == 1;
			root_seen = true;
			if (element_start(&d, name != NULL ? name : "") != 0)
				break;
			if (empty)
				element_end(&d);
			break;
		}
		case XML_READER_TYPE_END_ELEMENT:
			element_end(&d);
			break;
		case XML_READER_TYPE_TEXT:
		case XML_READER_TYPE_CDATA:
		case XML_READER_TYPE_WHITESPACE:
		case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
			text_add(&d, (const char *)xmlTextReaderConstValue(rd));
			break;
		case XML_READER_TYPE_DOCUMENT_TYPE:
		case XML_READER_TYPE_ENTITY:
		case XML_READER_TYPE_ENTITY_REFERENCE:
			dp_fail(&d, ERR_INVALID, "DTDs and entities are not allowed");
			break;
		default:
			break;
		}
	}
	if (!d.failed && r < 0)
		dp_fail(&d, ERR_INVALID, "not well-formed XML: %s",
		        d.xml_error != NULL ? d.xml_error : "parse error");
	xmlFreeTextReader(rd);
	buf_free(&d.text);
	if (d.failed)
		return -1;
	if (!root_seen)
		return dp_fail(&d, ERR_INVALID, "no root element");
	if (!d.seen_metadata)
		return dp_fail(&d, ERR_INVALID, "report_metadata missing");
	if (!d.seen_policy)
		return dp_fail(&d, ERR_INVALID, "policy_published missing");
	if (out->n_records == 0)
		return dp_fail(&d, ERR_INVALID, "record missing");
	return 0;
}
