/*
 * listener_tls.c: the TLS server of a configured listener (its key and
 * certificate pairs and minimum version), shared by the SMTP and IMAP
 * services.
 */
#include "config/config.h"

#include "core/error.h"
#include "core/tls.h"

#include <stdlib.h>
#include <string.h>

int config_listener_tls(const struct config_listener *l, struct tls_server **out, struct error *e)
{
	*out = NULL;
	if (l->nkeycerts == 0)
		return 0;
	struct tls_cert_files *pairs = calloc(l->nkeycerts, sizeof(*pairs));
	if (pairs == NULL)
		abort();
	for (size_t i = 0; i < l->nkeycerts; i++)
		pairs[i] = (struct tls_cert_files){l->keycerts[i].cert_file, l->keycerts[i].key_file};
	enum tls_min_version min = strcmp(l->tls_min_version, "TLSv1.3") == 0 ? TLS_MIN_V1_3
	                                                                       : TLS_MIN_V1_2;
	*out = tls_server_new(pairs, l->nkeycerts, min, e);
	free(pairs);
	return *out != NULL ? 0 : error_prefix(e, "listener %s", l->name);
}
