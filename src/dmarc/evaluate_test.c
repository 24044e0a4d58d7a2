/*
 * evaluate_test.c: policy discovery (RFC 7489 §6.6.3 and the DMARCbis tree
 * walk) over a table of TXT answers, alignment (§3.1), the result, the
 * disposition with sp=/np=/pct= (§6.6.4) and the Authentication-Results text.
 */
#include "dmarc/dmarc.h"

#include "core/arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A fake DNS: name -> status and up to 3 TXT records. Names not listed are
 * NXDOMAIN. Every name asked is recorded. */
struct answer {
	const char *name;
	enum dns_status status;
	const char *txt[3];
};

struct fake {
	const struct answer *answers;
	const char *asked[32];
	size_t nasked;
};

static enum dns_status fake_txt(void *arg, const char *name, struct arena *a,
                                struct dmarc_txt **txts_r, size_t *n_r, const char **why_r)
{
	struct fake *f = arg;
	if (f->nasked < 32)
		f->asked[f->nasked++] = arena_strdup(a, name);
	*txts_r = NULL;
	*n_r = 0;
	*why_r = NULL;
	for (const struct answer *an = f->answers; an->name != NULL; an++) {
		if (strcmp(an->name, name) != 0)
			continue;
		if (an->status != DNS_OK) {
			*why_r = "fake failure";
			return an->status;
		}
		struct dmarc_txt *t = arena_alloc(a, 3 * sizeof(*t));
		size_t n = 0;
		for (; n < 3 && an->txt[n] != NULL; n++)
			t[n] = (struct dmarc_txt){an->txt[n], strlen(an->txt[n])};
		*txts_r = t;
		*n_r = n;
		return n > 0 ? DNS_OK : DNS_NODATA;
	}
	return DNS_NXDOMAIN;
}

static const char psl_text[] =
	"// ===BEGIN ICANN DOMAINS===\ncom\nuk\nco.uk\nnet\n// ===END ICANN DOMAINS===\n"
	"// ===BEGIN PRIVATE DOMAINS===\ngithub.io\n// ===END PRIVATE DOMAINS===\n";

static struct dmarc_psl *psl;

static int setup(void **state)
{
	struct error err;
	return dmarc_psl_parse(psl_text, strlen(psl_text), &psl, &err);
}

static int teardown(void **state)
{
	dmarc_psl_free(&psl);
	return 0;
}

static unsigned fixed_rand;
static unsigned rand_fixed(void *arg)
{
	return fixed_rand;
}

static struct dmarc_options opts(enum dmarc_discovery_mode m)
{
	return (struct dmarc_options){.discovery = m, .psl = psl, .rand100 = rand_fixed};
}

static const struct answer zone[] = {
	{"_dmarc.example.co.uk", DNS_OK, {"v=DMARC1; p=reject; sp=quarantine; rua=mailto:r@example.co.uk"}},
	{"_dmarc.example.com", DNS_OK, {"v=spf1 -all", "v=DMARC1; p=reject"}},
	{"_dmarc.multi.com", DNS_OK, {"v=DMARC1; p=reject", "v=DMARC1; p=none"}},
	{"_dmarc.bad.multi.com", DNS_OK, {"v=DMARC1; p=none; pct=200"}},
	{"_dmarc.mid.org.net", DNS_OK, {"v=DMARC1; p=none"}},
	{"_dmarc.org.net", DNS_OK, {"v=DMARC1; p=reject"}},
	{"_dmarc.fail.com", DNS_TEMPFAIL, {NULL}},
	{"_dmarc.bogus.com", DNS_BOGUS, {NULL}},
	{"_dmarc.sub.broken.com", DNS_OK, {"v=DMARC1; p=reject; adkim=q"}},
	{"_dmarc.broken.com", DNS_OK, {"v=DMARC1; p=quarantine"}},
	{"_dmarc.np.com", DNS_OK, {"v=DMARC1; p=reject; sp=quarantine; np=reject; pct=50"}},
	{"exists.np.com", DNS_NODATA, {NULL}},
	{"_dmarc.uk", DNS_OK, {"v=DMARC1; p=quarantine; psd=y"}},
	{NULL, DNS_OK, {NULL}},
};

static void test_discovery_rfc7489(void **state)
{
	struct fake f = {zone, {0}, 0};
	struct dmarc_dns dns = {fake_txt, &f};
	struct dmarc_options o = opts(DMARC_DISCOVERY_RFC7489);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_discovery d;

	/* fallback to the Organizational Domain */
	dmarc_discover(&o, &dns, "Mail.Sub.Example.co.uk.", a, &d);
	assert_int_equal(d.status, DMARC_DISC_FOUND);
	assert_string_equal(d.domain, "mail.sub.example.co.uk");
	assert_string_equal(d.org_domain, "example.co.uk");
	assert_string_equal(d.record_name, "_dmarc.example.co.uk");
	assert_true(d.at_org_domain);
	assert_false(d.at_domain);
	assert_int_equal(f.nasked, 2);   /* 7489 skips sub.example.co.uk */

	/* non-DMARC TXT records are discarded before counting (step 2) */
	dmarc_discover(&o, &dns, "example.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_FOUND);
	assert_true(d.at_domain);
	assert_int_equal(d.record.p, DMARC_POLICY_REJECT);

	/* several records: none (step 5) */
	dmarc_discover(&o, &dns, "multi.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_NONE);
	assert_non_null(strstr(d.reason, "2 DMARC records"));

	/* a bad record is ignored and the Organizational Domain asked */
	dmarc_discover(&o, &dns, "sub.broken.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_FOUND);
	assert_string_equal(d.record_domain, "broken.com");
	assert_int_equal(d.nnotes, 1);
	assert_non_null(strstr(d.notes[0].text, "adkim"));

	dmarc_discover(&o, &dns, "nothing.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_NONE);

	/* temporary failure and DNSSEC bogus: temperror */
	dmarc_discover(&o, &dns, "fail.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_TEMPERROR);
	dmarc_discover(&o, &dns, "x.bogus.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_TEMPERROR);
	assert_non_null(strstr(d.reason, "bogus"));

	dmarc_discover(&o, &dns, "a..b", a, &d);
	assert_int_equal(d.status, DMARC_DISC_PERMERROR);
	arena_free(&a);
}

static void test_discovery_treewalk(void **state)
{
	struct fake f = {zone, {0}, 0};
	struct dmarc_dns dns = {fake_txt, &f};
	struct dmarc_options o = opts(DMARC_DISCOVERY_TREEWALK);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_discovery d;

	dmarc_discover(&o, &dns, "mail.sub.example.co.uk", a, &d);
	assert_int_equal(d.status, DMARC_DISC_FOUND);
	assert_string_equal(d.record_domain, "example.co.uk");
	assert_true(d.at_org_domain);
	assert_int_equal(f.nasked, 3);
	assert_string_equal(f.asked[1], "_dmarc.sub.example.co.uk");

	/* a record between the domain and its Organizational Domain */
	dmarc_discover(&o, &dns, "a.mid.org.net", a, &d);
	assert_string_equal(d.record_domain, "mid.org.net");
	assert_false(d.at_org_domain);
	assert_int_equal(d.record.p, DMARC_POLICY_NONE);

	/* the walk goes on past a bad record, and ends at a multiple */
	dmarc_discover(&o, &dns, "x.bad.multi.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_NONE);
	assert_int_equal(d.nnotes, 2);

	/* up to the top-level domain: a PSD record (RFC 9091) */
	f.nasked = 0;
	dmarc_discover(&o, &dns, "a.b.nowhere.co.uk", a, &d);
	assert_int_equal(d.status, DMARC_DISC_FOUND);
	assert_string_equal(d.record_domain, "uk");
	assert_int_equal(f.nasked, 5);

	/* at most 8 queries: 10 labels -> the name, then 7, 6, ... 1 labels */
	f.nasked = 0;
	dmarc_discover(&o, &dns, "a.b.c.d.e.f.g.h.i.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_NONE);
	assert_int_equal(f.nasked, 8);
	assert_string_equal(f.asked[0], "_dmarc.a.b.c.d.e.f.g.h.i.com");
	assert_string_equal(f.asked[1], "_dmarc.d.e.f.g.h.i.com");
	assert_string_equal(f.asked[7], "_dmarc.com");

	dmarc_discover(&o, &dns, "deep.fail.com", a, &d);
	assert_int_equal(d.status, DMARC_DISC_TEMPERROR);
	arena_free(&a);
}

static void test_org_domain_treewalk(void **state)
{
	struct fake f = {zone, {0}, 0};
	struct dmarc_dns dns = {fake_txt, &f};
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	const char *org, *why;
	/* highest record: org.net (mid.org.net has one too) */
	assert_int_equal(dmarc_org_domain_treewalk(&dns, "a.mid.org.net", a, &org, &why), 0);
	assert_string_equal(org, "org.net");
	/* psd=y at uk: the name below it */
	assert_int_equal(dmarc_org_domain_treewalk(&dns, "a.b.example.co.uk", a, &org, &why), 0);
	assert_string_equal(org, "co.uk");
	/* nothing anywhere: the domain itself */
	assert_int_equal(dmarc_org_domain_treewalk(&dns, "x.nothing.com", a, &org, &why), 0);
	assert_string_equal(org, "x.nothing.com");
	assert_int_equal(dmarc_org_domain_treewalk(&dns, "x.fail.com", a, &org, &why), -1);
	arena_free(&a);
}

static void test_alignment_and_result(void **state)
{
	struct fake f = {zone, {0}, 0};
	struct dmarc_dns dns = {fake_txt, &f};
	struct dmarc_options o = opts(DMARC_DISCOVERY_TREEWALK);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_eval ev;

	/* relaxed DKIM alignment through the Organizational Domain */
	struct dmarc_dkim_input k1[] = {{"other.net", "s1", DMARC_AUTH_PASS},
	                                {"news.EXAMPLE.com", "s2", DMARC_AUTH_PASS}};
	struct dmarc_input in = {"example.com", DMARC_AUTH_FAIL, "bounce.other.net", DMARC_SPF_MFROM, k1, 2};
	dmarc_check(&o, &dns, &in, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_PASS);
	assert_true(ev.dkim_aligned);
	assert_false(ev.dkim[0].aligned);
	assert_true(ev.dkim[1].aligned);
	assert_string_equal(ev.dkim[1].domain, "news.example.com");
	assert_false(ev.spf_aligned);
	assert_int_equal(ev.disposition, DMARC_POLICY_NONE);
	assert_string_equal(dmarc_authres(&ev, a), "dmarc=pass (p=reject dis=none) header.from=example.com");

	/* relaxed SPF alignment */
	struct dmarc_input in2 = {"example.com", DMARC_AUTH_PASS, "mail.example.com", DMARC_SPF_MFROM, NULL, 0};
	dmarc_check(&o, &dns, &in2, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_PASS);
	assert_true(ev.spf_aligned);

	/* SPF passes but is not aligned; DKIM aligned but failed: fail, p=reject */
	struct dmarc_dkim_input k3[] = {{"example.com", "s", DMARC_AUTH_FAIL}};
	struct dmarc_input in3 = {"example.com", DMARC_AUTH_PASS, "other.net", DMARC_SPF_MFROM, k3, 1};
	dmarc_check(&o, &dns, &in3, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_FAIL);
	assert_string_equal(ev.policy_tag, "p");
	assert_int_equal(ev.disposition, DMARC_POLICY_REJECT);
	assert_true(ev.dkim[0].aligned);
	assert_false(ev.spf_domain_aligned);
	assert_string_equal(dmarc_authres(&ev, a), "dmarc=fail (p=reject dis=reject) header.from=example.com");

	/* a subdomain under the org record: sp= */
	struct dmarc_input in4 = {"a.example.co.uk", DMARC_AUTH_FAIL, "a.example.co.uk", DMARC_SPF_MFROM, NULL, 0};
	dmarc_check(&o, &dns, &in4, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_FAIL);
	assert_string_equal(ev.policy_tag, "sp");
	assert_int_equal(ev.disposition, DMARC_POLICY_QUARANTINE);
	assert_string_equal(dmarc_authres(&ev, a),
	                    "dmarc=fail (p=reject sp=quarantine dis=quarantine) header.from=a.example.co.uk");

	/* strict alignment: a subdomain is not enough */
	static const struct answer strict_zone[] = {
		{"_dmarc.example.com", DNS_OK, {"v=DMARC1; p=reject; adkim=s; aspf=s"}},
		{NULL, DNS_OK, {NULL}},
	};
	struct fake fs = {strict_zone, {0}, 0};
	struct dmarc_dns sdns = {fake_txt, &fs};
	struct dmarc_dkim_input k5[] = {{"mail.example.com", "s", DMARC_AUTH_PASS}};
	struct dmarc_input in5 = {"example.com", DMARC_AUTH_PASS, "mail.example.com", DMARC_SPF_MFROM, k5, 1};
	dmarc_check(&o, &sdns, &in5, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_FAIL);
	struct dmarc_dkim_input k6[] = {{"example.com.", "s", DMARC_AUTH_PASS}};
	in5.dkim = k6;
	dmarc_check(&o, &sdns, &in5, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_PASS);

	/* private PSL entries are alignment boundaries */
	static const struct answer gh_zone[] = {
		{"_dmarc.alice.github.io", DNS_OK, {"v=DMARC1; p=reject"}},
		{NULL, DNS_OK, {NULL}},
	};
	struct fake fg = {gh_zone, {0}, 0};
	struct dmarc_dns gdns = {fake_txt, &fg};
	struct dmarc_dkim_input k7[] = {{"mallory.github.io", "s", DMARC_AUTH_PASS}};
	struct dmarc_input in7 = {"alice.github.io", DMARC_AUTH_NONE, NULL, DMARC_SPF_MFROM, k7, 1};
	dmarc_check(&o, &gdns, &in7, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_FAIL);

	/* none, temperror, permerror */
	struct dmarc_input in8 = {"nothing.com", DMARC_AUTH_PASS, "nothing.com", DMARC_SPF_MFROM, NULL, 0};
	dmarc_check(&o, &dns, &in8, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_NONE);
	assert_string_equal(dmarc_authres(&ev, a), "dmarc=none header.from=nothing.com");
	in8.from_domain = "fail.com";
	dmarc_check(&o, &dns, &in8, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_TEMPERROR);
	in8.from_domain = "bad..name";
	dmarc_check(&o, &dns, &in8, a, &ev);
	assert_int_equal(ev.result, DMARC_RESULT_PERMERROR);
	arena_free(&a);
}

static void test_pct_and_np(void **state)
{
	struct fake f = {zone, {0}, 0};
	struct dmarc_dns dns = {fake_txt, &f};
	struct dmarc_options o = opts(DMARC_DISCOVERY_TREEWALK);
	struct arena *a = arena_new(4096, ARENA_PLAIN);
	struct dmarc_eval ev;

	/* np.com: p=reject sp=quarantine np=reject pct=50 */
	struct dmarc_input in = {"np.com", DMARC_AUTH_FAIL, "np.com", DMARC_SPF_MFROM, NULL, 0};
	fixed_rand = 49;   /* selected */
	dmarc_check(&o, &dns, &in, a, &ev);
	assert_int_equal(ev.disposition, DMARC_POLICY_REJECT);
	assert_false(ev.sampled_out);
	fixed_rand = 50;   /* not selected: the next milder policy (§6.6.4) */
	dmarc_check(&o, &dns, &in, a, &ev);
	assert_int_equal(ev.policy, DMARC_POLICY_REJECT);
	assert_int_equal(ev.disposition, DMARC_POLICY_QUARANTINE);
	assert_true(ev.sampled_out);
	assert_string_equal(dmarc_authres(&ev, a), "dmarc=fail (p=reject dis=quarantine) header.from=np.com");

	/* an existing subdomain: sp=quarantine; sampled out: none */
	in.from_domain = "exists.np.com";
	dmarc_check(&o, &dns, &in, a, &ev);
	assert_string_equal(ev.policy_tag, "sp");
	assert_int_equal(ev.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(ev.disposition, DMARC_POLICY_NONE);
	assert_false(ev.discovery.domain_nonexistent);

	/* a subdomain that does not exist: np=reject */
	fixed_rand = 0;
	in.from_domain = "ghost.np.com";
	dmarc_check(&o, &dns, &in, a, &ev);
	assert_true(ev.discovery.domain_nonexistent);
	assert_string_equal(ev.policy_tag, "np");
	assert_int_equal(ev.disposition, DMARC_POLICY_REJECT);

	/* the default random source stays within 0..99: pct=50 gives both */
	o.rand100 = NULL;
	in.from_domain = "np.com";
	int seen_reject = 0, seen_quarantine = 0;
	for (int i = 0; i < 200; i++) {
		dmarc_check(&o, &dns, &in, a, &ev);
		seen_reject |= ev.disposition == DMARC_POLICY_REJECT;
		seen_quarantine |= ev.disposition == DMARC_POLICY_QUARANTINE;
		arena_reset(a);
	}
	assert_true(seen_reject && seen_quarantine);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_rfc7489),
		cmocka_unit_test(test_discovery_treewalk),
		cmocka_unit_test(test_org_domain_treewalk),
		cmocka_unit_test(test_alignment_and_result),
		cmocka_unit_test(test_pct_and_np),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
