/*
 * fuzz_arc_chain.c: libFuzzer target for src/arc/'s chain validation
 * (arc_verify, RFC 8617 §5.2): the input is a message whose header block
 * carries ARC sets; keys come from a fake lookup that answers every
 * fz._domainkey name with the RSA key the seeds in corpus/arc_chain/ were
 * sealed with, "temp" names with a temporary failure, and others with
 * NXDOMAIN.
 *
 * Checks: no ARC field gives none and n 0; pass has 1..50 complete
 * instances and oldest-pass within them; every instance number matches its
 * slot; the Authentication-Results text names the status; the result is the
 * same when verified twice; the AAR consolidation does not crash.
 */
#include "arc/arc.h"

#include "core/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_record[] =
	"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC3wUGxgChpk01tfnK/I0PxFHoKpJn1LvBKOmpljJQpRyG6dpKEFTiphcvaagqpUX9NtKejvUhLKOBB3vKsvg+32kn7xSX9Z1BlPkxvcGn5j42sTWuqUPP0Xk20mGqlMg5vurvVtcNndYBm8bQtUoo4RRt5e7LAlFeFZp+1Hz28pQIDAQAB";

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void fake_lookup(void *ctx, struct arena *a, const char *name, struct dkim_txt_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (strncmp(name, "temp", 4) == 0) {
		ans->status = DNS_TEMPFAIL;
		return;
	}
	if (strncmp(name, "fz._domainkey.", 14) != 0) {
		ans->status = DNS_NXDOMAIN;
		return;
	}
	const char **t = arena_alloc(a, sizeof(*t));
	size_t *l = arena_alloc(a, sizeof(*l));
	t[0] = key_record;
	l[0] = sizeof(key_record) - 1;
	ans->status = DNS_OK;
	ans->texts = t;
	ans->lens = l;
	ans->n = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct arena *a = arena_new(16384, ARENA_PLAIN);
	struct arc_verify_opts o = {.lookup = fake_lookup, .now = 1700000000};
	struct arc_result r, r2;
	arc_verify(a, msg, size, &o, &r);
	check(r.reason != NULL);
	check(r.n <= ARC_MAX_INSTANCES);
	if (r.status == ARC_NONE)
		check(r.n == 0);
	if (r.status == ARC_PASS) {
		check(r.n >= 1 && r.ninstances == r.n && r.oldest_pass <= r.n);
		check(!r.last_cv_fail);
	}
	for (size_t k = 0; k < r.ninstances; k++)
		check(r.instances[k].i == k + 1);
	const char *ar = arc_result_authres(a, &r, "192.0.2.1");
	check(strncmp(ar, "arc=", 4) == 0 &&
	      strncmp(ar + 4, arc_status_name(r.status), strlen(arc_status_name(r.status))) == 0);
	arc_verify(a, msg, size, &o, &r2);
	check(r2.status == r.status && r2.n == r.n && r2.oldest_pass == r.oldest_pass);
	(void)arc_collect_authres(a, msg, size, "fuzz.example");
	arena_free(&a);
	return 0;
}
