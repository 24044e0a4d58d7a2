/*
 * chain.c: collecting the ARC sets of a message, RFC 8617 §4.1, §4.2 and
 * the structure checks of §5.2 steps 1-3 (and §5.1.1 for sealers):
 *
 *   - every ARC field carries a valid i= (1..50, §4.2.1); AMS and AS in
 *     their tag-list, the AAR as its first item ("i=N;", §4.1.1)
 *   - no two fields of one kind share an instance (§4.2.1)
 *   - the instances 1..N are all present and complete (§5.2 step 3)
 */
#include "arc/arc.h"

#include "message/message.h"

#include <string.h>

const char *arc_status_name(enum arc_status s)
{
	switch (s) {
	case ARC_NONE: return "none";
	case ARC_PASS: return "pass";
	case ARC_FAIL: return "fail";
	}
	return "fail";
}

unsigned arc_parse_instance(const char *s, size_t n)
{
	if (n == 0 || n > 2 || s[0] == '0')
		return 0;
	unsigned v = 0;
	for (size_t k = 0; k < n; k++) {
		if (s[k] < '0' || s[k] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[k] - '0');
	}
	return v >= 1 && v <= ARC_MAX_INSTANCES ? v : 0;
}

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The i= of an AAR: "i=N;" at the start of the value, FWS allowed around
 * the tokens (§4.1.1: "arc-info = instance [CFWS] ";" authres-payload"). */
static unsigned aar_instance(const char *v, size_t n, size_t *rest_r)
{
	size_t p = 0;
	while (p < n && is_fws(v[p]))
		p++;
	if (p >= n || v[p] != 'i')
		return 0;
	p++;
	while (p < n && is_fws(v[p]))
		p++;
	if (p >= n || v[p] != '=')
		return 0;
	p++;
	while (p < n && is_fws(v[p]))
		p++;
	size_t s = p;
	while (p < n && v[p] >= '0' && v[p] <= '9')
		p++;
	unsigned i = arc_parse_instance(v + s, p - s);
	while (p < n && is_fws(v[p]))
		p++;
	if (p >= n || v[p] != ';')
		return 0;
	*rest_r = p + 1;
	return i;
}

/* The i= of an AMS or AS tag-list; 0 when the list does not parse or i=
 * is missing or bad. */
static unsigned taglist_instance(struct arena *a, const struct message_header *f)
{
	struct dkim_tag *tags;
	size_t ntags;
	const char *why;
	if (f->value_len > DKIM_MAX_TAGLIST_BYTES ||
	    dkim_taglist_parse(a, f->value, f->value_len, &tags, &ntags, &why) < 0)
		return 0;
	for (size_t k = 0; k < ntags; k++)
		if (tags[k].name_len == 1 && tags[k].name[0] == 'i')
			return arc_parse_instance(tags[k].value, tags[k].value_len);
	return 0;
}

static int fail(struct arc_result *r, const char *reason)
{
	r->status = ARC_FAIL;
	r->reason = reason;
	return -1;
}

/* authserv-id and results of an AAR value after "i=N;". */
static void aar_info(struct arena *a, const struct message_header *f, size_t rest,
                     struct arc_instance *in)
{
	char *v = message_header_unfold(a, f->value + rest, f->value_len - rest, NULL);
	const char *semi = strchr(v, ';');
	size_t idlen = semi != NULL ? (size_t)(semi - v) : strlen(v);
	/* authserv-id [CFWS authres-version]: the first word */
	size_t w = 0;
	while (w < idlen && !is_fws(v[w]) && v[w] != '(')
		w++;
	in->authserv_id = arena_strndup(a, v, w);
	const char *res = semi != NULL ? semi + 1 : "";
	while (is_fws(*res))
		res++;
	in->aar_results = res;
}

int arc_collect(struct arena *a, const struct message_headers *h,
                struct arc_set sets[ARC_MAX_INSTANCES + 1], struct arc_result *r)
{
	memset(sets, 0, (ARC_MAX_INSTANCES + 1) * sizeof(*sets));
	unsigned max = 0;
	bool any = false;
	size_t aar_rest[ARC_MAX_INSTANCES + 1] = {0};
	for (size_t k = 0; k < h->count; k++) {
		const struct message_header *f = &h->fields[k];
		if (f->broken)
			continue;
		const struct message_header **slot;
		unsigned i;
		size_t rest = 0;
		if (message_header_is(f, "ARC-Authentication-Results")) {
			any = true;
			i = aar_instance(f->value, f->value_len, &rest);
			if (i == 0)
				return fail(r, "ARC-Authentication-Results without a valid i= first");
			slot = &sets[i].aar;
			aar_rest[i] = rest;
		} else if (message_header_is(f, "ARC-Message-Signature")) {
			any = true;
			i = taglist_instance(a, f);
			if (i == 0)
				return fail(r, "ARC-Message-Signature without a valid tag-list and i=");
			slot = &sets[i].ams;
		} else if (message_header_is(f, "ARC-Seal")) {
			any = true;
			i = taglist_instance(a, f);
			if (i == 0)
				return fail(r, "ARC-Seal without a valid tag-list and i=");
			slot = &sets[i].as;
		} else {
			continue;
		}
		if (*slot != NULL)
			return fail(r, arena_printf(a, "two %.*s fields with i=%u", (int)f->name_len,
			                            f->name, i));
		*slot = f;
		if (i > max)
			max = i;
	}
	if (!any) {
		r->status = ARC_NONE;
		r->reason = "no ARC fields";
		r->n = 0;
		return 0;
	}
	r->n = max;
	r->instances = arena_alloc(a, max * sizeof(*r->instances));
	memset(r->instances, 0, max * sizeof(*r->instances));
	r->ninstances = max;
	for (unsigned i = 1; i <= max; i++) {
		r->instances[i - 1].i = i;
		if (sets[i].aar != NULL)
			aar_info(a, sets[i].aar, aar_rest[i], &r->instances[i - 1]);
	}
	for (unsigned i = 1; i <= max; i++) {
		if (sets[i].aar == NULL || sets[i].ams == NULL || sets[i].as == NULL)
			return fail(r, arena_printf(a, "ARC set i=%u is incomplete (%s missing)", i,
			                            sets[i].aar == NULL ? "ARC-Authentication-Results"
			                            : sets[i].ams == NULL ? "ARC-Message-Signature"
			                                                  : "ARC-Seal"));
	}
	return 0;
}
