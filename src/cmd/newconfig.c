/*
 * newconfig.c: tern.conf for a new instance (newconfig.h), written as text so
 * that it reads like a file an admin would write: every listener setting
 * spelled out, ports too, even where they are the defaults.
 */
#include "cmd/newconfig.h"

#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *newconfig_static_text(const struct newconfig *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		abort();
	fprintf(f, "%sDataDir: ../data\nHostname: %s\nUser: %s\nLogLevel: info\n"
	        "Listeners:\n  %s:\n    IPs:\n", c->comment, c->hostname, c->user, c->listener);
	for (size_t i = 0; i < c->nips; i++)
		fprintf(f, "      - %s\n", c->ips[i]);
	fprintf(f, "    TLS:\n      KeyCerts:\n        - CertFile: %s\n          KeyFile: %s\n",
	        c->cert_file, c->key_file);
	for (size_t i = 0; i < c->nservices; i++)
		fprintf(f, "    %s:\n      Enabled: true\n      Port: %d\n", c->services[i].key,
		        c->services[i].port);
	if (fclose(f) != 0)
		abort();
	return text;
}

int newconfig_write(const char *path, const char *text, struct error *err)
{
	return file_write_atomic(path, text, strlen(text), 0640, err);
}
