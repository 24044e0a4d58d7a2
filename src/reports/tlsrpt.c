/*
 * tlsrpt.c: SMTP TLS report documents (RFC 8460 §4.3, §4.4), read with
 * jansson. Every member is type-checked; the document is bounded in size
 * before jansson sees it (jansson bounds nesting depth itself), duplicate
 * keys are refused (JSON_REJECT_DUPLICATES), and NUL bytes inside strings
 * are refused (jansson's default without JSON_ALLOW_NUL).
 */
#include "reports/internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct tp {
	struct arena *a;
	struct error *err;
};

static int tp_fail(struct error *err, enum error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int tp_fail(struct error *err, enum error_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(err, kind, fmt, ap);
	va_end(ap);
	return error_prefix(err, "TLS report");
}

/* A string member: 0 (set, or left NULL when absent and optional), -1. */
static int get_str(struct tp *t, json_t *obj, const char *key, const char *where, bool required,
                   const char **out)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL) {
		if (required)
			return tp_fail(t->err, ERR_INVALID, "%s%s missing", where, key);
		return 0;
	}
	if (!json_is_string(v))
		return tp_fail(t->err, ERR_INVALID, "%s%s: not a string", where, key);
	size_t n = json_string_length(v);
	if (n > REPORTS_VALUE_MAX)
		return tp_fail(t->err, ERR_LIMIT, "%s%s: longer than %d bytes", where, key,
		               REPORTS_VALUE_MAX);
	*out = arena_strndup(t->a, json_string_value(v), n);
	return 0;
}

/* A count member: 0 when absent. */
static int get_count(struct tp *t, json_t *obj, const char *key, const char *where, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return tp_fail(t->err, ERR_INVALID, "%s%s: not an integer", where, key);
	json_int_t n = json_integer_value(v);
	if (n < 0 || n > REPORTS_COUNT_MAX)
		return tp_fail(t->err, ERR_INVALID, "%s%s: %lld is out of range", where, key,
		               (long long)n);
	*out = (int64_t)n;
	return 0;
}

/* A list of strings; a lone string is taken as a list of one. */
static int get_strings(struct tp *t, json_t *obj, const char *key, const char *where,
                       const char ***out, size_t *n_out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	*n_out = 0;
	if (v == NULL)
		return 0;
	if (json_is_string(v)) {
		*out = arena_alloc(t->a, sizeof(**out));
		return get_str(t, obj, key, where, true, &(*out)[(*n_out)++]);
	}
	if (!json_is_array(v))
		return tp_fail(t->err, ERR_INVALID, "%s%s: not an array of strings", where, key);
	size_t n = json_array_size(v);
	if (n > REPORTS_ITEMS_MAX)
		return tp_fail(t->err, ERR_LIMIT, "%s%s: more than %d strings", where, key,
		               REPORTS_ITEMS_MAX);
	*out = arena_alloc(t->a, (n ? n : 1) * sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s))
			return tp_fail(t->err, ERR_INVALID, "%s%s[%zu]: not a string", where, key, i);
		if (json_string_length(s) > REPORTS_VALUE_MAX)
			return tp_fail(t->err, ERR_LIMIT, "%s%s[%zu]: longer than %d bytes", where, key,
			               i, REPORTS_VALUE_MAX);
		(*out)[i] = arena_strndup(t->a, json_string_value(s), json_string_length(s));
	}
	*n_out = n;
	return 0;
}

static int get_object(struct tp *t, json_t *obj, const char *key, const char *where,
                      json_t **out)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return tp_fail(t->err, ERR_INVALID, "%s%s missing", where, key);
	if (!json_is_object(v))
		return tp_fail(t->err, ERR_INVALID, "%s%s: not an object", where, key);
	*out = v;
	return 0;
}

static int parse_failure(struct tp *t, json_t *o, const char *where, struct tlsrpt_failure *f)
{
	if (!json_is_object(o))
		return tp_fail(t->err, ERR_INVALID, "%snot an object", where);
	if (get_str(t, o, "result-type", where, true, &f->result_type) ||
	    get_str(t, o, "sending-mta-ip", where, false, &f->sending_mta_ip) ||
	    get_str(t, o, "receiving-mx-hostname", where, false, &f->receiving_mx_hostname) ||
	    get_str(t, o, "receiving-mx-helo", where, false, &f->receiving_mx_helo) ||
	    get_str(t, o, "receiving-ip", where, false, &f->receiving_ip) ||
	    get_count(t, o, "failed-session-count", where, &f->failed_session_count) ||
	    get_str(t, o, "additional-information", where, false, &f->additional_information) ||
	    get_str(t, o, "failure-reason-code", where, false, &f->failure_reason_code))
		return -1;
	if (f->failure_reason_code == NULL &&
	    get_str(t, o, "failure-error-code", where, false, &f->failure_reason_code) != 0)
		return -1;
	return 0;
}

static int parse_policy(struct tp *t, json_t *o, size_t i, struct tlsrpt_policy *p)
{
	char where[96];
	snprintf(where, sizeof(where), "policies[%zu]: ", i);
	if (!json_is_object(o))
		return tp_fail(t->err, ERR_INVALID, "%snot an object", where);
	json_t *pol = NULL, *sum = NULL;
	if (get_object(t, o, "policy", where, &pol) != 0)
		return -1;
	snprintf(where, sizeof(where), "policies[%zu]: policy/", i);
	if (get_str(t, pol, "policy-type", where, true, &p->policy_type) ||
	    get_strings(t, pol, "policy-string", where, &p->policy_strings,
	                &p->n_policy_strings) ||
	    get_str(t, pol, "policy-domain", where, false, &p->policy_domain) ||
	    get_strings(t, pol, "mx-host", where, &p->mx_hosts, &p->n_mx_hosts))
		return -1;
	snprintf(where, sizeof(where), "policies[%zu]: ", i);
	if (get_object(t, o, "summary", where, &sum) != 0)
		return -1;
	snprintf(where, sizeof(where), "policies[%zu]: summary/", i);
	if (get_count(t, sum, "total-successful-session-count", where, &p->successful) ||
	    get_count(t, sum, "total-failure-session-count", where, &p->failed))
		return -1;
	json_t *fd = json_object_get(o, "failure-details");
	if (fd == NULL)
		return 0;
	if (!json_is_array(fd))
		return tp_fail(t->err, ERR_INVALID, "policies[%zu]: failure-details: not an array", i);
	size_t n = json_array_size(fd);
	if (n > REPORTS_RECORDS_MAX)
		return tp_fail(t->err, ERR_LIMIT, "policies[%zu]: more than %d failure-details", i,
		               REPORTS_RECORDS_MAX);
	p->failures = arena_alloc(t->a, (n ? n : 1) * sizeof(*p->failures));
	for (size_t k = 0; k < n; k++) {
		snprintf(where, sizeof(where), "policies[%zu]: failure-details[%zu]: ", i, k);
		if (parse_failure(t, json_array_get(fd, k), where, &p->failures[k]) != 0)
			return -1;
	}
	p->n_failures = n;
	return 0;
}

static int parse_report(struct tp *t, json_t *root, struct tlsrpt_report *out)
{
	if (!json_is_object(root))
		return tp_fail(t->err, ERR_INVALID, "not a JSON object");
	json_t *range = NULL, *pols;
	if (get_str(t, root, "organization-name", "", true, &out->organization_name) ||
	    get_object(t, root, "date-range", "", &range) ||
	    get_str(t, range, "start-datetime", "date-range/", true, &out->start_datetime) ||
	    get_str(t, range, "end-datetime", "date-range/", true, &out->end_datetime) ||
	    get_str(t, root, "contact-info", "", false, &out->contact_info) ||
	    get_str(t, root, "report-id", "", true, &out->report_id))
		return -1;
	if (reports_parse_datetime(out->start_datetime, &out->begin) != 0)
		return tp_fail(t->err, ERR_INVALID, "date-range/start-datetime: not an RFC 3339 "
		               "date-time: \"%.64s\"", out->start_datetime);
	if (reports_parse_datetime(out->end_datetime, &out->end) != 0)
		return tp_fail(t->err, ERR_INVALID, "date-range/end-datetime: not an RFC 3339 "
		               "date-time: \"%.64s\"", out->end_datetime);
	pols = json_object_get(root, "policies");
	if (pols == NULL)
		return tp_fail(t->err, ERR_INVALID, "policies missing");
	if (!json_is_array(pols))
		return tp_fail(t->err, ERR_INVALID, "policies: not an array");
	size_t n = json_array_size(pols);
	if (n > REPORTS_RECORDS_MAX)
		return tp_fail(t->err, ERR_LIMIT, "more than %d policies", REPORTS_RECORDS_MAX);
	out->policies = arena_alloc(t->a, (n ? n : 1) * sizeof(*out->policies));
	for (size_t i = 0; i < n; i++)
		if (parse_policy(t, json_array_get(pols, i), i, &out->policies[i]) != 0)
			return -1;
	out->n_policies = n;
	return 0;
}

int reports_tlsrpt_parse(const char *json, size_t len, struct arena *a,
                         struct tlsrpt_report *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > REPORTS_DOC_MAX)
		return tp_fail(err, ERR_LIMIT, "larger than %u bytes", REPORTS_DOC_MAX);
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return tp_fail(err, ERR_INVALID, "not valid JSON: line %d: %s", jerr.line, jerr.text);
	struct tp t = {.a = a, .err = err};
	int r = parse_report(&t, root, out);
	json_decref(root);
	return r;
}
