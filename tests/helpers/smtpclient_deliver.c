/*
 * smtpclient_deliver: runs one smtpclient_deliver call for the end-to-end
 * tests and prints what happened as one JSON object:
 *
 *   {"rc": 0, "error": "", "rcpts": [{"address", "status", "code", "enhanced",
 *    "text", "remote_mta", "remote_ip", "dsn_passed"}...], "tls": {"policy", "tls",
 *    "failure", "mx_host", "ip", "sending_ip", "additional_info"},
 *  "tls_sessions": [{"policy", "tls", "failure", "mx_host", "ip", "additional_info",
 *    "policy_strings"}, ...]}
 *
 * Options (tern's resolver is pointed at the test DNS servers):
 *   --dns IP@PORT            upstream (repeatable)
 *   --stub ZONE=IP@PORT      stub zone (repeatable)
 *   --trust-anchor-file F    DNSSEC trust anchors
 *   --domain D | --host H    MX delivery to D, or smarthost H
 *   --port N                 smarthost port      --mx-port N   port of MX hosts
 *   --tls opportunistic|required|implicit|none (smarthost)
 *   --auth-user U --auth-password P
 *   --ca-file F  --mtasts-cache DIR  --mtasts-port N  --timeout MS
 *   --from ADDR  --rcpt ADDR[,NOTIFY[,ORCPT]] (repeatable)  --message FILE
 *   --8bit --smtputf8 --requiretls --ret-hdrs --envid X --prefer-ipv4
 *   --size N                 the message size told to the client (default: the file's)
 * Exit status 0 when the call ran, 2 on a usage error.
 */
#include "core/error.h"
#include "dns/dns.h"
#include "smtpclient/smtpclient.h"

#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_MAX 16

static void usage(const char *msg)
{
	fprintf(stderr, "smtpclient_deliver: %s\n", msg);
	exit(2);
}

static unsigned notify_parse(const char *s)
{
	unsigned n = 0;
	if (strstr(s, "NEVER"))
		n |= SMTPCLIENT_NOTIFY_NEVER;
	if (strstr(s, "SUCCESS"))
		n |= SMTPCLIENT_NOTIFY_SUCCESS;
	if (strstr(s, "FAILURE"))
		n |= SMTPCLIENT_NOTIFY_FAILURE;
	if (strstr(s, "DELAY"))
		n |= SMTPCLIENT_NOTIFY_DELAY;
	return n;
}

static const char *status_name(enum smtpclient_status s)
{
	switch (s) {
	case SMTPCLIENT_DELIVERED: return "delivered";
	case SMTPCLIENT_TEMPFAIL: return "tempfail";
	case SMTPCLIENT_PERMFAIL: return "permfail";
	}
	return "?";
}

static const char *policy_name(enum smtpclient_policy p)
{
	switch (p) {
	case SMTPCLIENT_POLICY_NONE: return "none";
	case SMTPCLIENT_POLICY_DANE: return "dane";
	case SMTPCLIENT_POLICY_MTASTS: return "mta-sts";
	}
	return "?";
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dns", required_argument, NULL, 'd'},
		{"stub", required_argument, NULL, 'S'},
		{"trust-anchor-file", required_argument, NULL, 'T'},
		{"domain", required_argument, NULL, 'D'},
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"mx-port", required_argument, NULL, 'P'},
		{"tls", required_argument, NULL, 't'},
		{"auth-user", required_argument, NULL, 'u'},
		{"auth-password", required_argument, NULL, 'w'},
		{"ca-file", required_argument, NULL, 'c'},
		{"mtasts-cache", required_argument, NULL, 'C'},
		{"mtasts-port", required_argument, NULL, 'M'},
		{"timeout", required_argument, NULL, 'o'},
		{"from", required_argument, NULL, 'f'},
		{"rcpt", required_argument, NULL, 'r'},
		{"message", required_argument, NULL, 'm'},
		{"8bit", no_argument, NULL, '8'},
		{"smtputf8", no_argument, NULL, 'U'},
		{"requiretls", no_argument, NULL, 'R'},
		{"ret-hdrs", no_argument, NULL, 'h'},
		{"envid", required_argument, NULL, 'e'},
		{"prefer-ipv4", no_argument, NULL, '4'},
		{"size", required_argument, NULL, 'z'},
		{NULL, 0, NULL, 0},
	};
	const char *upstreams[LIST_MAX];
	struct dns_stub stubs[LIST_MAX];
	struct smtpclient_rcpt rcpts[LIST_MAX];
	size_t nup = 0, nstubs = 0, nrcpts = 0;
	struct dns_resolver_config rc = {0};
	struct smtpclient_opts o = { .ehlo_name = "client.tern.test" };
	struct smtpclient_route route = {0};
	struct smtpclient_message msg = { .mail_from = "", .fd = -1 };
	memset(rcpts, 0, sizeof(rcpts));
	const char *message = NULL;
	long long size = -1;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (nup == LIST_MAX)
				usage("too many --dns");
			upstreams[nup++] = optarg;
			break;
		case 'S': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || nstubs == LIST_MAX)
				usage("--stub ZONE=IP@PORT");
			*eq = '\0';
			stubs[nstubs].zone = optarg;
			stubs[nstubs++].addr = eq + 1;
			break;
		}
		case 'T': rc.trust_anchor_file = optarg; break;
		case 'D': route.domain = optarg; break;
		case 'H': route.host = optarg; break;
		case 'p': route.port = atoi(optarg); break;
		case 'P': o.mx_port = atoi(optarg); break;
		case 't':
			if (strcmp(optarg, "opportunistic") == 0)
				route.tls = SMTPCLIENT_TLS_OPPORTUNISTIC;
			else if (strcmp(optarg, "required") == 0)
				route.tls = SMTPCLIENT_TLS_STARTTLS_REQUIRED;
			else if (strcmp(optarg, "implicit") == 0)
				route.tls = SMTPCLIENT_TLS_IMPLICIT;
			else if (strcmp(optarg, "none") == 0)
				route.tls = SMTPCLIENT_TLS_NONE;
			else
				usage("--tls opportunistic|required|implicit|none");
			break;
		case 'u': route.auth_user = optarg; break;
		case 'w': route.auth_password = optarg; break;
		case 'c': o.ca_file = optarg; break;
		case 'C': o.mtasts_cache_dir = optarg; break;
		case 'M': o.mtasts_https_port = atoi(optarg); break;
		case 'o':
			o.connect_timeout_ms = (unsigned)atoi(optarg);
			o.command_timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'f': msg.mail_from = optarg; break;
		case 'r': {
			if (nrcpts == LIST_MAX)
				usage("too many --rcpt");
			struct smtpclient_rcpt *r = &rcpts[nrcpts++];
			char *comma = strchr(optarg, ',');
			r->address = optarg;
			if (comma != NULL) {
				*comma = '\0';
				char *orcpt = strchr(comma + 1, ',');
				if (orcpt != NULL) {
					*orcpt = '\0';
					r->orcpt = orcpt + 1;
				}
				r->notify = notify_parse(comma + 1);
			}
			break;
		}
		case 'm': message = optarg; break;
		case '8': msg.eightbit = true; break;
		case 'U': msg.smtputf8 = true; break;
		case 'R': msg.requiretls = true; break;
		case 'h': msg.ret_hdrs = true; break;
		case 'e': msg.envid = optarg; break;
		case '4': o.prefer_ipv4 = true; break;
		case 'z': size = atoll(optarg); break;
		default: usage("unknown option");
		}
	}
	if (message == NULL || nrcpts == 0 || (route.domain == NULL && route.host == NULL))
		usage("need --message, --rcpt and --domain or --host");
	msg.fd = open(message, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (msg.fd < 0 || fstat(msg.fd, &st) < 0)
		usage("cannot open the message");
	msg.size = size >= 0 ? (uint64_t)size : (uint64_t)st.st_size;

	rc.upstreams = upstreams;
	rc.nupstreams = nup;
	rc.stubs = stubs;
	rc.nstubs = nstubs;
	rc.cache_entries = 0;
	rc.timeout_ms = 5000;
	struct error e = {0};
	if (dns_resolver_new(&rc, &o.resolver, &e) < 0)
		usage(e.msg);

	struct smtpclient_tls_report tls;
	int ret = smtpclient_deliver(&o, &route, &msg, rcpts, nrcpts, &tls, &e);

	json_t *out = json_object();
	json_object_set_new(out, "rc", json_integer(ret));
	json_object_set_new(out, "error", json_string(ret < 0 ? e.msg : ""));
	json_t *arr = json_array();
	for (size_t i = 0; i < nrcpts; i++) {
		const struct smtpclient_result *r = &rcpts[i].result;
		json_t *j = json_object();
		json_object_set_new(j, "address", json_string(rcpts[i].address));
		json_object_set_new(j, "status", json_string(status_name(r->status)));
		json_object_set_new(j, "code", json_integer(r->code));
		json_object_set_new(j, "enhanced", json_string(r->enhanced));
		json_object_set_new(j, "text", json_string(r->text));
		json_object_set_new(j, "remote_mta", json_string(r->remote_mta));
		json_object_set_new(j, "remote_ip", json_string(r->remote_ip));
		json_object_set_new(j, "dsn_passed", json_boolean(r->dsn_passed));
		json_array_append_new(arr, j);
	}
	json_object_set_new(out, "rcpts", arr);
	json_t *t = json_object();
	json_object_set_new(t, "policy", json_string(policy_name(tls.policy)));
	json_object_set_new(t, "tls", json_boolean(tls.tls));
	json_object_set_new(t, "failure", tls.failure ? json_string(tls.failure) : json_null());
	json_object_set_new(t, "mx_host", json_string(tls.mx_host));
	json_object_set_new(t, "ip", json_string(tls.ip));
	json_object_set_new(t, "sending_ip", json_string(tls.sending_ip));
	json_object_set_new(t, "additional_info", json_string(tls.additional_info));
	json_t *sessions = json_array();
	for (size_t i = 0; i < tls.nsessions; i++) {
		const struct smtpclient_tls_session *ts = &tls.sessions[i];
		json_t *js = json_object();
		json_object_set_new(js, "policy", json_string(policy_name(ts->policy)));
		json_object_set_new(js, "tls", json_boolean(ts->tls));
		json_object_set_new(js, "failure", ts->failure ? json_string(ts->failure) : json_null());
		json_object_set_new(js, "mx_host", json_string(ts->mx_host));
		json_object_set_new(js, "ip", json_string(ts->ip));
		json_object_set_new(js, "additional_info", json_string(ts->additional_info));
		json_object_set_new(js, "policy_strings", json_string(ts->policy_strings));
		json_array_append_new(sessions, js);
	}
	json_object_set_new(out, "tls_sessions", sessions);
	json_object_set_new(out, "tls", t);
	char *text = json_dumps(out, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(out);
	close(msg.fd);
	dns_resolver_free(&o.resolver);
	return 0;
}
