/*
 * globaldb_fixture.h: the cmocka fixture of the unit tests that work on a
 * DATA/tern.db: a fresh tern.db in a temporary directory (not fsync'ed), and
 * an arena. For test files, after <cmocka.h>.
 */
#ifndef TERN_STORE_GLOBALDB_FIXTURE_H
#define TERN_STORE_GLOBALDB_FIXTURE_H

#include "core/arena.h"
#include "store/globaldb.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

struct globaldb_fx {
	char dir[64];
	struct globaldb *db;
	struct arena *a;
};

static inline int globaldb_fx_setup(void **state)
{
	struct globaldb_fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		abort();
	snprintf(f->dir, sizeof(f->dir), "/tmp/terngdbXXXXXX");
	if (mkdtemp(f->dir) == NULL)
		abort();
	store_set_durable(false);
	struct error err;
	if (globaldb_open(f->dir, &f->db, &err) != 0)
		fail_msg("opening tern.db: %s", err.msg);
	f->a = arena_new(4096, ARENA_PLAIN);
	*state = f;
	return 0;
}

static inline int globaldb_fx_teardown(void **state)
{
	struct globaldb_fx *f = *state;
	globaldb_close(&f->db);
	arena_free(&f->a);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

#endif
